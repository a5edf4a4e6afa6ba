// Package audit is gdprd's tamper-evident audit log.
//
// Every read and write of personal data and every staff action appends one
// Event, in the same database transaction as the change it records, so a
// change can never commit without its event (fail closed, security target
// AL-3). Events form a hash chain: each event's hash covers its contents and
// the previous event's hash, so editing, deleting, reordering or inserting an
// event breaks the chain. Every Options.CheckpointEvery events, and on
// demand, the head of the chain is signed with an Ed25519 key that lives in
// the key hierarchy, never in the database (AL-4). Checkpoints exported off
// the host let Verify detect what the chain alone cannot: truncation of the
// tail and wholesale rewrites by someone who can write the database and
// recompute hashes (AL-1, AL-2).
//
// Events hold no plaintext personal data: Target is an HMAC computed by the
// caller and Details are sealed by the caller with the subject's data key, so
// erasing that key erases the details while every hash still verifies.
package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gdprd/gdprd/internal/sqlstore"
)

// DefaultCheckpointEvery is how many events separate automatic checkpoints
// when Options.CheckpointEvery is not set: frequent enough that a stored
// checkpoint is never far behind, rare enough that signing costs nothing
// measurable per event.
const DefaultCheckpointEvery = 1000

// ErrNoSigner is returned by Checkpoint when the Log has no Signer.
var ErrNoSigner = errors.New("audit: no checkpoint signer configured")

// Event is one audit record.
//
// Target is an opaque HMAC of the subject or object acted on, computed by the
// caller; it must never be plaintext, because events cannot be erased.
// Details, when present, are already sealed by the caller with the subject's
// data key, and KeyID names that key, so that erasing the key erases the
// details; KeyID is "" when there are no details.
//
// Seq, At, PrevHash and Hash are assigned by Append; values passed in are
// ignored.
type Event struct {
	Seq      int64
	At       time.Time
	Actor    string
	Action   string
	Purpose  string
	Target   string
	Result   string
	KeyID    string
	Details  []byte
	PrevHash []byte
	Hash     []byte
}

// Head is the end of the chain: the seq and hash of the last event (seq 0
// and the all-zero genesis hash for an empty log). It is kept in its own row
// so that appends have one row to lock and Verify can tell a truncated tail
// from an intact one when the head row was not rewritten too.
type Head struct {
	Seq  int64
	Hash []byte
}

// Signer signs checkpoints. It is satisfied by the key hierarchy's keyring,
// which keeps the private key in memory only.
type Signer interface {
	SignCheckpoint(msg []byte) []byte
	CheckpointPublicKey() ed25519.PublicKey
}

// Options configure a Log.
type Options struct {
	// Clock returns the current time (time.Now when nil); tests inject a
	// fixed clock.
	Clock func() time.Time
	// Signer signs checkpoints. Without one, Append stores no checkpoints
	// and Checkpoint fails with ErrNoSigner; that is only meant for tools
	// and tests that do not hold the key hierarchy.
	Signer Signer
	// CheckpointEvery is the number of events between automatic
	// checkpoints (DefaultCheckpointEvery when zero or negative).
	CheckpointEvery int64
	// KeyID names the signing key in stored and exported checkpoints, so a
	// verifier holding several public keys knows which one to use.
	KeyID string
}

// Log appends to and checkpoints the audit log. It holds no state of its
// own beyond its options, so one Log serves all goroutines.
type Log struct {
	clock  func() time.Time
	signer Signer
	every  int64
	keyID  string
}

// New returns a Log configured by opts.
func New(opts Options) *Log {
	l := &Log{clock: opts.Clock, signer: opts.Signer, every: opts.CheckpointEvery, keyID: opts.KeyID}
	if l.clock == nil {
		l.clock = time.Now
	}
	if l.every <= 0 {
		l.every = DefaultCheckpointEvery
	}
	return l
}

// now reads the clock at the precision the database stores, so that the
// time that is hashed is exactly the time that is stored.
func (l *Log) now() time.Time {
	return sqlstore.FromMicros(sqlstore.Micros(l.clock()))
}

// Append adds e to the chain inside the caller's transaction, so the event
// and the state change it records commit together or not at all: if Append
// fails, the caller must return its error so the whole transaction rolls
// back (fail closed).
//
// It locks the head row (SELECT ... FOR UPDATE on PostgreSQL, so concurrent
// transactions append one after the other; SQLite's single writer already
// serialises them), computes the event's hash, inserts the event and moves
// the head. Every CheckpointEvery events it also stores a signed checkpoint
// in the same transaction. It returns the event's seq.
func (l *Log) Append(ctx context.Context, tx *sqlstore.Tx, e Event) (int64, error) {
	seqs, err := l.AppendAll(ctx, tx, []Event{e})
	if err != nil {
		return 0, err
	}
	return seqs[0], nil
}

// AppendAll appends several events in order with one lock and one move of
// the head, and returns their seqs. Like Append it runs in the caller's
// transaction and fails as a whole.
func (l *Log) AppendAll(ctx context.Context, tx *sqlstore.Tx, events []Event) ([]int64, error) {
	for i := range events {
		if err := validate(&events[i]); err != nil {
			return nil, err
		}
	}
	head, err := lockHead(ctx, tx)
	if err != nil {
		return nil, err
	}
	if len(head.Hash) != sha256.Size {
		return nil, fmt.Errorf("audit: head hash at seq %d has %d bytes, want %d", head.Seq, len(head.Hash), sha256.Size)
	}
	start := head.Seq
	seqs := make([]int64, len(events))
	at := l.now()
	var h hasher
	for i := range events {
		e := &events[i]
		if len(e.Details) == 0 {
			e.Details = nil // stored as NULL; hashed the same as empty
		}
		e.Seq = head.Seq + 1
		e.At = at
		e.PrevHash = head.Hash
		sum, ok := h.sum(e)
		if !ok {
			return nil, errors.New("audit: event field too long")
		}
		e.Hash = sum[:]
		_, err = tx.ExecContext(ctx, `INSERT INTO audit_events
		(seq, at, actor, action, purpose, target, result, key_id, details, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			e.Seq, sqlstore.Micros(e.At), e.Actor, e.Action, e.Purpose, e.Target, e.Result,
			e.KeyID, e.Details, e.PrevHash, e.Hash)
		if err != nil {
			return nil, fmt.Errorf("audit: insert event %d: %w", e.Seq, err)
		}
		if l.signer != nil && e.Seq%l.every == 0 {
			cp, err := l.sign(e.Seq, e.Hash, e.At)
			if err != nil {
				return nil, err
			}
			if err := storeCheckpoint(ctx, tx, cp); err != nil {
				return nil, err
			}
		}
		head = Head{Seq: e.Seq, Hash: e.Hash}
		seqs[i] = e.Seq
	}
	// The seq condition is a second guard against two writers appending
	// from the same head: the loser updates nothing and fails.
	res, err := tx.ExecContext(ctx, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3",
		head.Seq, head.Hash, start)
	if err != nil {
		return nil, fmt.Errorf("audit: move head to %d: %w", head.Seq, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("audit: move head to %d: %w", head.Seq, err)
	} else if n != 1 {
		return nil, fmt.Errorf("audit: head moved under us while appending seq %d", head.Seq)
	}
	return seqs, nil
}

// maxField bounds each length-prefixed field so that its length fits the
// 4-byte prefix of the hash encoding.
const maxField = math.MaxUint32

// validate rejects events that could not be stored identically on both
// engines or that would break the rules in Event's documentation.
func validate(e *Event) error {
	if e.Actor == "" || e.Action == "" {
		return errors.New("audit: event needs an actor and an action")
	}
	if len(e.Details) > 0 && e.KeyID == "" {
		return errors.New("audit: sealed details need the key id that sealed them")
	}
	if uint64(len(e.Details)) > maxField {
		return errors.New("audit: details too long")
	}
	fields := []struct{ name, value string }{
		{"actor", e.Actor}, {"action", e.Action}, {"purpose", e.Purpose},
		{"target", e.Target}, {"result", e.Result}, {"key id", e.KeyID},
	}
	for _, f := range fields {
		// PostgreSQL TEXT holds neither NUL nor invalid UTF-8; refusing
		// them here keeps SQLite logs portable to PostgreSQL.
		if !utf8.ValidString(f.value) || strings.IndexByte(f.value, 0) >= 0 {
			return fmt.Errorf("audit: %s is not valid UTF-8 text", f.name)
		}
		if uint64(len(f.value)) > maxField {
			return fmt.Errorf("audit: %s too long", f.name)
		}
	}
	return nil
}

const headQuery = "SELECT seq, hash FROM audit_head WHERE id = 1"

// lockHead reads the head inside a write transaction, locking it on
// PostgreSQL until the transaction ends.
func lockHead(ctx context.Context, tx *sqlstore.Tx) (Head, error) {
	q := headQuery
	if tx.Engine() == sqlstore.Postgres {
		q += " FOR UPDATE"
	}
	h, err := scanHead(tx.QueryRowContext(ctx, q))
	if err != nil {
		return Head{}, fmt.Errorf("audit: lock head: %w", err)
	}
	return h, nil
}

func scanHead(row *sql.Row) (Head, error) {
	var h Head
	if err := row.Scan(&h.Seq, &h.Hash); err != nil {
		return Head{}, err
	}
	return h, nil
}

// Head returns the current end of the chain.
func (l *Log) Head(ctx context.Context, q sqlstore.Querier) (Head, error) {
	h, err := scanHead(q.QueryRowContext(ctx, headQuery))
	if err != nil {
		return Head{}, fmt.Errorf("audit: read head: %w", err)
	}
	return h, nil
}

const selectEvents = `SELECT seq, at, actor, action, purpose, target, result, key_id, details, prev_hash, hash
	FROM audit_events`

// scanEvent reads one row selected by selectEvents.
func scanEvent(rows *sql.Rows) (Event, error) {
	var e Event
	var at int64
	err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Purpose, &e.Target, &e.Result,
		&e.KeyID, &e.Details, &e.PrevHash, &e.Hash)
	if err != nil {
		return Event{}, fmt.Errorf("audit: scan event: %w", err)
	}
	e.At = sqlstore.FromMicros(at)
	return e, nil
}

// ListByTarget returns the events about target (an HMAC, as stored) oldest
// first, at most limit of them (all when limit <= 0). Access exports use it
// to tell data subjects when and for what purpose their data was consulted
// (GDPR Art. 15, CJEU C-579/21).
func ListByTarget(ctx context.Context, q sqlstore.Querier, target string, limit int) ([]Event, error) {
	query := selectEvents + " WHERE target = $1 ORDER BY seq"
	args := []any{target}
	if limit > 0 {
		query += " LIMIT $2"
		args = append(args, limit)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: list events by target: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: list events by target: %w", err)
	}
	return out, nil
}
