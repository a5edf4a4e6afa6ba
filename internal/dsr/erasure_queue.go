package dsr

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Approval is a category of an erasure waiting for a staff decision, for
// the console's list of approvals.
type Approval struct {
	ErasureID string    `json:"erasure_id"`
	RequestID string    `json:"request_id,omitempty"`
	SubjectID string    `json:"subject_id"`
	Category  string    `json:"category"`
	Since     time.Time `json:"since"` // when the erasure was asked for
}

// MaxApprovals bounds the list of waiting approvals.
const MaxApprovals = 500

// AwaitingApproval lists the categories of every erasure that wait for a
// staff decision, oldest first.
func (e *Eraser) AwaitingApproval(ctx context.Context) ([]Approval, error) {
	rows, err := e.db.Read().QueryContext(ctx, `SELECT i.erasure_id, x.request_id, i.subject_id, i.category, x.created_at
		FROM erasure_items i JOIN erasures x ON x.id = i.erasure_id
		WHERE i.state = 'awaiting_approval' ORDER BY x.created_at, i.erasure_id, i.category LIMIT $1`, MaxApprovals)
	if err != nil {
		return nil, fmt.Errorf("read approvals: %w", err)
	}
	defer rows.Close()
	var out []Approval
	for rows.Next() {
		var a Approval
		var at int64
		if err := rows.Scan(&a.ErasureID, &a.RequestID, &a.SubjectID, &a.Category, &at); err != nil {
			return nil, fmt.Errorf("read approvals: %w", err)
		}
		a.Since = sqlstore.FromMicros(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// ErasureItem is the fate of a category an erasure did not erase at once.
type ErasureItem struct {
	Category  string     `json:"category"`
	State     string     `json:"state"` // scheduled, awaiting_approval, erased, refused
	Reason    string     `json:"reason,omitempty"`
	DueAt     *time.Time `json:"due_at,omitempty"`
	DecidedBy string     `json:"decided_by,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
}

// ErasureStatus is an erasure as it stands: its signed receipt (as issued
// when it was carried out) and what became of the categories it did not
// erase at once (approved, refused, still held).
type ErasureStatus struct {
	ID        string
	RequestID string
	Receipt   string // compact JWS
	Items     []ErasureItem
}

// Status returns erasure id as it stands.
func (e *Eraser) Status(ctx context.Context, id string) (ErasureStatus, error) {
	if !ValidErasureID(id) {
		return ErasureStatus{}, errcode.E(errcode.NotFound, "no such erasure")
	}
	st := ErasureStatus{ID: id}
	err := e.db.Read().QueryRowContext(ctx, "SELECT request_id, receipt FROM erasures WHERE id = $1", id).Scan(&st.RequestID, &st.Receipt)
	if errors.Is(err, sql.ErrNoRows) {
		return ErasureStatus{}, errcode.E(errcode.NotFound, "no such erasure")
	}
	if err != nil {
		return ErasureStatus{}, fmt.Errorf("read erasure: %w", err)
	}
	rows, err := e.db.Read().QueryContext(ctx, `SELECT category, state, reason, due_at, decided_by, decided_at
		FROM erasure_items WHERE erasure_id = $1 ORDER BY category`, id)
	if err != nil {
		return ErasureStatus{}, fmt.Errorf("read erasure items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var it ErasureItem
		var due, decided sql.NullInt64
		if err := rows.Scan(&it.Category, &it.State, &it.Reason, &due, &it.DecidedBy, &decided); err != nil {
			return ErasureStatus{}, fmt.Errorf("read erasure items: %w", err)
		}
		if due.Valid {
			t := sqlstore.FromMicros(due.Int64)
			it.DueAt = &t
		}
		if decided.Valid {
			t := sqlstore.FromMicros(decided.Int64)
			it.DecidedAt = &t
		}
		st.Items = append(st.Items, it)
	}
	return st, rows.Err()
}
