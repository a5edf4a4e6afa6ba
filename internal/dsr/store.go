package dsr

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gdprd/gdprd/internal/sqlstore"
)

// errStale reports that a request changed between the read a change was
// planned on and the write: the caller plans again on the new state.
var errStale = errors.New("dsr: request changed concurrently")

const requestColumns = `id, subject_id, kind, channel, details,
	CASE WHEN sealed_details IS NULL THEN 0 ELSE 1 END, state, received_at, legal_due_at,
	target_due_at, extended, extension_reason, assigned_to, identity_wait,
	awaiting_identity_since, version, created_by, created_at, updated_at, closed_at`

type scanner interface{ Scan(dest ...any) error }

// scanRequest reads one row selected with requestColumns.
func scanRequest(row scanner) (Request, error) {
	var (
		r                                     Request
		subject                               sql.NullString
		details                               string
		sealed, extended                      int
		received, legal, target, wait         int64
		created, updated                      int64
		since, closed                         sql.NullInt64
		kind, channel, state, extensionReason string
	)
	err := row.Scan(&r.ID, &subject, &kind, &channel, &details, &sealed, &state, &received, &legal,
		&target, &extended, &extensionReason, &r.AssignedTo, &wait, &since, &r.Version,
		&r.CreatedBy, &created, &updated, &closed)
	if err != nil {
		return Request{}, err
	}
	if err := json.Unmarshal([]byte(details), &r.Details); err != nil {
		return Request{}, fmt.Errorf("dsr: request %s: details: %w", r.ID, err)
	}
	r.SubjectID = subject.String
	r.Kind, r.Channel, r.State = Kind(kind), Channel(channel), State(state)
	r.SealedDetails = sealed == 1
	r.ReceivedAt = sqlstore.FromMicros(received)
	r.LegalDueAt = sqlstore.FromMicros(legal)
	r.TargetDueAt = sqlstore.FromMicros(target)
	r.Extended = extended == 1
	r.ExtensionReason = ReasonCode(extensionReason)
	r.identityWait = time.Duration(wait) * time.Microsecond
	if since.Valid {
		r.AwaitingIdentitySince = sqlstore.FromMicros(since.Int64)
	}
	r.CreatedAt = sqlstore.FromMicros(created)
	r.UpdatedAt = sqlstore.FromMicros(updated)
	if closed.Valid {
		r.ClosedAt = sqlstore.FromMicros(closed.Int64)
	}
	return r, nil
}

// loadRequest reads request id; an unknown id is NotFound.
func loadRequest(ctx context.Context, q sqlstore.Querier, id string) (Request, error) {
	if !ValidRequestID(id) {
		return Request{}, requestNotFound()
	}
	r, err := scanRequest(q.QueryRowContext(ctx, "SELECT "+requestColumns+" FROM requests WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, requestNotFound()
	}
	if err != nil {
		return Request{}, fmt.Errorf("dsr: read request: %w", err)
	}
	return r, nil
}

// openDuplicate returns the open request of subjectID and kind, if any.
func openDuplicate(ctx context.Context, q sqlstore.Querier, subjectID string, kind Kind) (*Request, error) {
	r, err := scanRequest(q.QueryRowContext(ctx, "SELECT "+requestColumns+
		" FROM requests WHERE subject_id = $1 AND kind = $2 AND closed_at IS NULL", subjectID, string(kind)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dsr: find open request: %w", err)
	}
	return &r, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return sqlstore.Micros(t)
}

// insertRequest stores a new request with its sealed details.
func insertRequest(ctx context.Context, tx *sqlstore.Tx, r *Request, sealed []byte, keyID string) error {
	details, err := scopeJSON(r.Details)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO requests (id, subject_id, kind, channel, details,
		sealed_details, details_key_id, state, received_at, legal_due_at, target_due_at, extended,
		extension_reason, assigned_to, identity_wait, awaiting_identity_since, version, created_by,
		created_at, updated_at, closed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`,
		r.ID, nullString(r.SubjectID), string(r.Kind), string(r.Channel), details, sealed, keyID,
		string(r.State), sqlstore.Micros(r.ReceivedAt), sqlstore.Micros(r.LegalDueAt),
		sqlstore.Micros(r.TargetDueAt), boolInt(r.Extended), string(r.ExtensionReason), r.AssignedTo,
		r.identityWait.Microseconds(), nullMicros(r.AwaitingIdentitySince), r.Version, r.CreatedBy,
		sqlstore.Micros(r.CreatedAt), sqlstore.Micros(r.UpdatedAt), nullMicros(r.ClosedAt))
	if err != nil {
		return fmt.Errorf("dsr: insert request: %w", err)
	}
	return nil
}

// updateRequest writes r's mutable columns if the stored request is still
// at version prev, and reports errStale otherwise. What arrived when and
// how (receipt, kind, channel, sealed details) is never rewritten; a
// trigger refuses it too.
func updateRequest(ctx context.Context, tx *sqlstore.Tx, prev int64, r *Request) error {
	details, err := scopeJSON(r.Details)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE requests SET subject_id = $1, details = $2, state = $3,
		legal_due_at = $4, target_due_at = $5, extended = $6, extension_reason = $7, assigned_to = $8,
		identity_wait = $9, awaiting_identity_since = $10, version = $11, updated_at = $12, closed_at = $13
		WHERE id = $14 AND version = $15`,
		nullString(r.SubjectID), details, string(r.State), sqlstore.Micros(r.LegalDueAt),
		sqlstore.Micros(r.TargetDueAt), boolInt(r.Extended), string(r.ExtensionReason), r.AssignedTo,
		r.identityWait.Microseconds(), nullMicros(r.AwaitingIdentitySince), r.Version,
		sqlstore.Micros(r.UpdatedAt), nullMicros(r.ClosedAt), r.ID, prev)
	if err != nil {
		return fmt.Errorf("dsr: update request: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("dsr: update request: %w", err)
	}
	if n != 1 {
		return errStale
	}
	return nil
}

// eventRow is one request_events row before it is written.
type eventRow struct {
	version  int64
	at       time.Time
	actor    string
	kind     EventKind
	from, to State
	reason   ReasonCode
	facts    map[string]any // details in the clear
	sealed   []byte
	keyID    string
	note     string // only for a request without a subject
	auditSeq int64
}

func insertEvent(ctx context.Context, tx *sqlstore.Tx, requestID string, e *eventRow) error {
	facts := []byte("{}")
	if len(e.facts) > 0 {
		var err error
		if facts, err = json.Marshal(e.facts); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO request_events (request_id, version, at, actor, kind,
		from_state, to_state, reason_code, justification_iri, details, sealed, key_id, note, audit_seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		requestID, e.version, sqlstore.Micros(e.at), e.actor, string(e.kind), string(e.from),
		string(e.to), string(e.reason), e.reason.IRI(), string(facts), e.sealed, e.keyID, e.note, e.auditSeq)
	if err != nil {
		return fmt.Errorf("dsr: insert request event: %w", err)
	}
	return nil
}

// Notification kinds: what the person must be told, queued for the mail
// job with the event that owes it.
const (
	// NotifyExtension: the deadline was extended, with the reasons (Art.
	// 12(3)); it must reach the person within the first month.
	NotifyExtension = "notify.extension"
	// NotifyRefusal: the request was refused, with the reasons, the right
	// to complain to the supervisory authority and to a judicial remedy
	// (Art. 12(4)).
	NotifyRefusal = "notify.refusal"
)

func insertNotification(ctx context.Context, tx *sqlstore.Tx, requestID string, version int64, kind string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO request_notifications (request_id, event_version, kind, created_at)
		VALUES ($1, $2, $3, $4)`, requestID, version, kind, sqlstore.Micros(at))
	if err != nil {
		return fmt.Errorf("dsr: queue %s: %w", kind, err)
	}
	return nil
}
