package dsr

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gdprd/gdprd/internal/vault"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Get returns request id without its personal details (see OpenDetails).
// An unknown id is NotFound. Get takes no actor: a caller acting for a
// person must check SubjectID itself, as History and OpenDetails do.
func (s *Service) Get(ctx context.Context, id string) (Request, error) {
	r, err := loadRequest(ctx, s.db.Read(), id)
	if err != nil {
		return Request{}, err
	}
	r.present(s.now())
	return r, nil
}

// Filter selects requests for List. Empty fields select everything.
type Filter struct {
	States    []State
	Kinds     []Kind
	SubjectID string
	// DueBefore keeps requests whose target_due_at is before it.
	DueBefore time.Time
	// After continues a listing after the request it names (keyset
	// pagination on the queue order, so pages neither skip nor repeat
	// requests while others are added): the TargetDueAt and ID of the last
	// request of the previous page.
	After *Position
	// Limit caps the answer (DefaultListLimit when zero, at most
	// MaxListLimit).
	Limit int
}

// Position is a request's place in the queue order, for Filter.After.
type Position struct {
	TargetDueAt time.Time
	ID          string
}

// PositionOf returns r's place in the queue order.
func PositionOf(r Request) Position { return Position{TargetDueAt: r.TargetDueAt, ID: r.ID} }

const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// List returns the requests f selects, soonest target first: the order of
// the staff queue.
func (s *Service) List(ctx context.Context, f Filter) ([]Request, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	in := func(column string, values []string) {
		ps := make([]string, len(values))
		for i, v := range values {
			ps[i] = arg(v)
		}
		where = append(where, column+" IN ("+strings.Join(ps, ", ")+")")
	}
	if len(f.States) > 0 {
		vs := make([]string, len(f.States))
		for i, st := range f.States {
			if !st.valid() {
				return nil, errcode.Field("state", "unknown state %q", truncate(string(st), 32))
			}
			vs[i] = string(st)
		}
		in("state", vs)
	}
	if len(f.Kinds) > 0 {
		vs := make([]string, len(f.Kinds))
		for i, k := range f.Kinds {
			if !k.valid() {
				return nil, errcode.Field("kind", "unknown kind %q", truncate(string(k), 32))
			}
			vs[i] = string(k)
		}
		in("kind", vs)
	}
	if f.SubjectID != "" {
		if !vault.ValidSubjectID(f.SubjectID) {
			return []Request{}, nil
		}
		where = append(where, "subject_id = "+arg(f.SubjectID))
	}
	if !f.DueBefore.IsZero() {
		where = append(where, "target_due_at < "+arg(sqlstore.Micros(f.DueBefore)))
	}
	if f.After != nil {
		due := arg(sqlstore.Micros(f.After.TargetDueAt))
		where = append(where, "(target_due_at > "+due+" OR (target_due_at = "+due+" AND id > "+arg(f.After.ID)+"))")
	}
	limit := f.Limit
	switch {
	case limit < 0:
		return nil, errcode.Field("limit", "a limit is positive")
	case limit == 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	query := "SELECT " + requestColumns + " FROM requests"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY target_due_at, id LIMIT " + arg(limit)
	rows, err := s.db.Read().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("dsr: list requests: %w", err)
	}
	defer rows.Close()
	now := s.now()
	out := []Request{}
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("dsr: list requests: %w", err)
		}
		r.present(now)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dsr: list requests: %w", err)
	}
	return out, nil
}

// Counts are the dashboard's figures about open requests.
type Counts struct {
	Open int `json:"open"`
	// DueSoon are open requests whose target falls within the next
	// DueSoonWindow.
	DueSoon int `json:"due_soon"`
	// Overdue are open requests past their internal target.
	Overdue int `json:"overdue"`
	// LegallyOverdue are open requests past their legal deadline: late
	// under Art. 12(3).
	LegallyOverdue int `json:"legally_overdue"`
}

// DueSoonWindow is what "due soon" means on the dashboard: this week.
const DueSoonWindow = 7 * 24 * time.Hour

// Counts returns the dashboard counts as of the clock's now.
func (s *Service) Counts(ctx context.Context) (Counts, error) {
	now := s.now()
	var c Counts
	err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN target_due_at >= $1 AND target_due_at < $2 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN target_due_at < $1 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN legal_due_at < $1 THEN 1 ELSE 0 END), 0)
		FROM requests WHERE closed_at IS NULL`,
		sqlstore.Micros(now), sqlstore.Micros(now.Add(DueSoonWindow))).Scan(&c.Open, &c.DueSoon, &c.Overdue, &c.LegallyOverdue)
	if err != nil {
		return Counts{}, fmt.Errorf("dsr: count requests: %w", err)
	}
	return c, nil
}

// Event is one entry of a request's history.
type Event struct {
	RequestID string     `json:"request_id"`
	Version   int64      `json:"version"`
	At        time.Time  `json:"at"`
	Actor     string     `json:"actor"`
	Kind      EventKind  `json:"kind"`
	From      State      `json:"from,omitempty"`
	To        State      `json:"to"`
	Reason    ReasonCode `json:"reason,omitempty"`
	// JustificationIRI is the W3C DPV concept of Reason, when DPV has one.
	JustificationIRI string `json:"justification_iri,omitempty"`
	// Facts are the event's non-personal details: the scope a merge added,
	// the new deadlines of an extension, the assignee.
	Facts json.RawMessage `json:"facts,omitempty"`
	// Text is the justification in words.
	Text string `json:"text,omitempty"`
	// Personal are the personal details a merged submission brought.
	Personal *Details `json:"personal,omitempty"`
	// Erased reports that the event's sealed words went with its subject.
	Erased   bool  `json:"erased,omitempty"`
	AuditSeq int64 `json:"audit_seq"`
}

// History returns every event of request id, oldest first, with the words
// they carry opened. Opening them reads personal data, so that is audited
// (before anything is returned) as a read by a.
func (s *Service) History(ctx context.Context, a Actor, id string) ([]Event, error) {
	if err := checkActor(a); err != nil {
		return nil, err
	}
	r, err := s.loadFor(ctx, a, id)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT version, at, actor, kind, from_state, to_state,
		reason_code, justification_iri, details, sealed, key_id, note, audit_seq
		FROM request_events WHERE request_id = $1 ORDER BY version`, id)
	if err != nil {
		return nil, fmt.Errorf("dsr: read history: %w", err)
	}
	defer rows.Close()
	var (
		out    []Event
		opened bool
	)
	for rows.Next() {
		e := Event{RequestID: id}
		var (
			at                     int64
			kind, from, to, reason string
			facts                  string
			sealed                 []byte
			keyID                  string
		)
		if err := rows.Scan(&e.Version, &at, &e.Actor, &kind, &from, &to, &reason, &e.JustificationIRI,
			&facts, &sealed, &keyID, &e.Text, &e.AuditSeq); err != nil {
			return nil, fmt.Errorf("dsr: read history: %w", err)
		}
		e.At = sqlstore.FromMicros(at)
		e.Kind, e.From, e.To, e.Reason = EventKind(kind), State(from), State(to), ReasonCode(reason)
		if facts != "{}" {
			e.Facts = json.RawMessage(facts)
		}
		if len(sealed) > 0 {
			p, err := s.openPayload(ctx, &r, e.Version, keyID, sealed)
			if err != nil {
				return nil, err
			}
			if p == nil {
				e.Erased = true
			} else {
				e.Text, e.Personal, opened = p.Text, p.Personal, true
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dsr: read history: %w", err)
	}
	if opened {
		if err := s.auditRead(ctx, a, "dsr.request.history.read", &r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// openPayload opens an event's sealed words, or returns nil when its
// subject's key is gone.
func (s *Service) openPayload(ctx context.Context, r *Request, version int64, keyID string, sealed []byte) (*payload, error) {
	if r.SubjectID == "" {
		return nil, nil // erased: the subject row, and with it the key, is gone
	}
	b, err := s.sealer.Open(ctx, r.SubjectID, keyID, sealed, eventAD(r.ID, version)...)
	if errcode.Of(err) == errcode.Gone {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dsr: open request event %d: %w", version, err)
	}
	var p payload
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("dsr: open request event %d: %w", version, err)
	}
	return &p, nil
}

// OpenDetails returns the full details of request id, with the personal
// parts (fields to rectify, the person's message) opened. It is an audited
// read; once the subject is erased it answers Gone.
func (s *Service) OpenDetails(ctx context.Context, a Actor, id string) (Details, error) {
	if err := checkActor(a); err != nil {
		return Details{}, err
	}
	r, err := s.loadFor(ctx, a, id)
	if err != nil {
		return Details{}, err
	}
	if !r.SealedDetails {
		return r.Details, nil
	}
	var (
		sealed []byte
		keyID  string
	)
	err = s.db.Read().QueryRowContext(ctx, "SELECT sealed_details, details_key_id FROM requests WHERE id = $1", id).Scan(&sealed, &keyID)
	if errors.Is(err, sql.ErrNoRows) {
		return Details{}, requestNotFound()
	}
	if err != nil {
		return Details{}, fmt.Errorf("dsr: read details: %w", err)
	}
	if r.SubjectID == "" {
		return Details{}, errcode.E(errcode.Gone, "the details were erased with their subject")
	}
	b, err := s.sealer.Open(ctx, r.SubjectID, keyID, sealed, detailsAD(id)...)
	if err != nil {
		return Details{}, err
	}
	var p Details
	if err := json.Unmarshal(b, &p); err != nil {
		return Details{}, fmt.Errorf("dsr: open details: %w", err)
	}
	if err := s.auditRead(ctx, a, "dsr.request.details.read", &r); err != nil {
		return Details{}, err
	}
	return r.Details.with(&p), nil
}

// loadFor reads request id for actor a: a person ("subject:<id>") sees
// only their own requests, and someone else's looks unknown to them.
func (s *Service) loadFor(ctx context.Context, a Actor, id string) (Request, error) {
	r, err := loadRequest(ctx, s.db.Read(), id)
	if err != nil {
		return Request{}, err
	}
	if subjectID, ok := a.subjectID(); ok && subjectID != r.SubjectID {
		return Request{}, requestNotFound()
	}
	return r, nil
}
