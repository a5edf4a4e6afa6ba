package audit

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Report is the outcome of a verification. A log that cannot be read is an
// error; a log that can be read but does not verify is a Report with OK
// false, because that is a finding for the operator, not a failure of the
// tool.
type Report struct {
	// Events is the number of events read.
	Events int64
	// Checkpoints is the number of stored checkpoints that verified.
	Checkpoints int
	// OK is true when every check passed.
	OK bool
	// FirstBad is where verification first failed: the seq of the first
	// event that does not verify, of the first event missing (deleted,
	// moved or cut off the tail), or that a rejected checkpoint names. It
	// is 0 when OK.
	FirstBad int64
	// Problem describes the first failure, naming the seq; "" when OK.
	Problem string
}

// beginner is implemented by connection pools (*sql.DB), which Verify reads
// inside one read-only transaction.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// Verify checks the whole log in q against the checkpoint public key pub.
// It walks the events in seq order, streaming, in constant memory, and
// checks that seqs start at 1 and increase by one, that each prev_hash is
// the previous event's hash (the all-zero hash for the first), that each
// hash matches the event's contents, that the head row names the last
// event, and that every stored checkpoint is signed by pub and matches the
// event hash at its seq.
//
// trusted, when not nil, is a checkpoint exported earlier and kept off the
// host. It must be signed by pub, and the log must still hold an event at
// trusted.Seq with exactly that hash. This is what detects a truncated tail
// and a rewrite by someone who can recompute hashes, which the chain alone
// cannot.
//
// When q is a connection pool (db.Read()), Verify reads from one read-only
// snapshot so that concurrent appends do not look like tampering; when q is
// a transaction, it reads inside that transaction.
func Verify(ctx context.Context, q sqlstore.Querier, pub ed25519.PublicKey, trusted *Checkpoint) (Report, error) {
	if b, ok := q.(beginner); ok {
		tx, err := b.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
		if err != nil {
			return Report{}, fmt.Errorf("audit: begin verify snapshot: %w", err)
		}
		defer tx.Rollback()
		q = tx
	}
	head, err := scanHead(q.QueryRowContext(ctx, headQuery))
	missingHead := errors.Is(err, sql.ErrNoRows)
	if err != nil && !missingHead {
		return Report{}, fmt.Errorf("audit: read head: %w", err)
	}
	cps, err := readCheckpoints(ctx, q)
	if err != nil {
		return Report{}, err
	}
	hp := &head
	if missingHead {
		hp = nil
	}
	rep, err := VerifyEvents(streamEvents(ctx, q), hp, cps, pub, trusted)
	if err != nil {
		return rep, err
	}
	if missingHead && rep.OK {
		rep.OK = false
		rep.FirstBad = rep.Events + 1
		rep.Problem = "the audit_head row is missing"
	}
	return rep, nil
}

// streamEvents yields every stored event in seq order, one row at a time.
func streamEvents(ctx context.Context, q sqlstore.Querier) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		rows, err := q.QueryContext(ctx, selectEvents+" ORDER BY seq")
		if err != nil {
			yield(Event{}, fmt.Errorf("audit: read events: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				yield(Event{}, err)
				return
			}
			if !yield(e, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(Event{}, fmt.Errorf("audit: read events: %w", err))
		}
	}
}

// pin is a checkpoint to hold the log to while walking it.
type pin struct {
	cp      Checkpoint
	trusted bool
}

func (p pin) name() string {
	if p.trusted {
		return "trusted checkpoint"
	}
	return "stored checkpoint"
}

// verifier keeps the state of one walk.
type verifier struct {
	pub    ed25519.PublicKey
	pins   []pin // sorted by seq; pins[next:] not yet reached
	next   int
	report Report
}

// fail records the first problem; later ones are consequences of it.
func (v *verifier) fail(seq int64, format string, args ...any) {
	if v.report.Problem != "" {
		return
	}
	v.report.FirstBad = max(seq, 1)
	v.report.Problem = fmt.Sprintf(format, args...)
}

func (v *verifier) failed() bool { return v.report.Problem != "" }

// checkPins checks every pin at seq against hash, the event hash there.
func (v *verifier) checkPins(seq int64, hash []byte) {
	for v.next < len(v.pins) && v.pins[v.next].cp.Seq <= seq && !v.failed() {
		p := v.pins[v.next]
		v.next++
		if err := p.cp.VerifySignature(v.pub); err != nil {
			v.fail(p.cp.Seq, "%s at seq %d rejected: %v", p.name(), p.cp.Seq, err)
			return
		}
		if p.cp.Seq != seq || !bytes.Equal(p.cp.Hash, hash) {
			v.fail(p.cp.Seq, "%s at seq %d does not match the log: event %d has hash %x, checkpoint says %x",
				p.name(), p.cp.Seq, seq, hash, []byte(p.cp.Hash))
			return
		}
		if !p.trusted {
			v.report.Checkpoints++
		}
	}
}

// VerifyEvents is the pure core of Verify, also used by tests over in-memory
// logs. events yields the log in stored order; an error it yields is
// returned as is. head, when not nil, must name the last event. checkpoints
// are the stored ones, in any order; trusted is an exported one, or nil. It
// runs in time linear in the number of events and checkpoints, and keeps no
// event after the next one is read.
func VerifyEvents(events iter.Seq2[Event, error], head *Head, checkpoints []Checkpoint, pub ed25519.PublicKey, trusted *Checkpoint) (Report, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Report{}, fmt.Errorf("audit: verify needs the %d-byte checkpoint public key, got %d bytes", ed25519.PublicKeySize, len(pub))
	}
	v := verifier{pub: pub, pins: make([]pin, 0, len(checkpoints)+1)}
	for _, cp := range checkpoints {
		v.pins = append(v.pins, pin{cp: cp})
	}
	if trusted != nil {
		v.pins = append(v.pins, pin{cp: *trusted, trusted: true})
	}
	slices.SortStableFunc(v.pins, func(a, b pin) int { return cmp.Compare(a.cp.Seq, b.cp.Seq) })

	var (
		h    hasher
		last int64             // seq of the last event verified
		prev [sha256.Size]byte // its hash (genesis: zeros), copied so no event is retained
	)
	v.checkPins(0, prev[:]) // checkpoints of the empty log
	for e, err := range events {
		if err != nil {
			return v.report, err
		}
		v.report.Events++
		if v.failed() {
			continue // count the rest; everything after a break is suspect
		}
		want := last + 1
		switch {
		case e.Seq != want:
			v.fail(want, "event %d is missing or out of place: found seq %d after seq %d", want, e.Seq, last)
			continue
		case !bytes.Equal(e.PrevHash, prev[:]):
			v.fail(want, "event %d does not link to event %d: prev_hash %x, want %x", want, last, e.PrevHash, prev)
			continue
		}
		sum, ok := h.sum(&e)
		if !ok || !bytes.Equal(e.Hash, sum[:]) {
			v.fail(want, "event %d has been altered: its hash does not match its contents", want)
			continue
		}
		last, prev = want, sum
		v.checkPins(last, prev[:])
	}
	if !v.failed() && v.next < len(v.pins) {
		p := v.pins[v.next]
		if err := p.cp.VerifySignature(v.pub); err != nil {
			v.fail(p.cp.Seq, "%s at seq %d rejected: %v", p.name(), p.cp.Seq, err)
		} else {
			v.fail(last+1, "log ends at seq %d but a %s names seq %d: events %d to %d are missing",
				last, p.name(), p.cp.Seq, last+1, p.cp.Seq)
		}
	}
	if !v.failed() && head != nil {
		switch {
		case head.Seq != last:
			// A head behind the log means events were added without it;
			// a head ahead of it means events were cut off the tail.
			v.fail(min(head.Seq, last)+1, "head says seq %d but the last event is seq %d", head.Seq, last)
		case !bytes.Equal(head.Hash, prev[:]):
			v.fail(last, "head hash %x does not match the hash of the last event %d", head.Hash, last)
		}
	}
	v.report.OK = !v.failed()
	return v.report, nil
}
