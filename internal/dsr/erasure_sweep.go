package dsr

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/vault"
)

// Decide approves or refuses the erasure of a category that waits for
// approval (by default security data). Only owners, DPOs and support staff
// decide; anyone else (an auditor) is refused, and the refusal is audited.
// An approval erases the category at once, and the whole account when the
// erasure asked for it and nothing else is pending; a refusal keeps the
// data and needs a reason, which is audited (sealed with the subject's key).
func (e *Eraser) Decide(ctx context.Context, a Actor, role Role, erasureID, category string, approve bool, reason string) error {
	if err := checkActor(a); err != nil {
		return err
	}
	action := "erasure.refuse"
	if approve {
		action = "erasure.approve"
	}
	it, err := e.loadItem(ctx, erasureID, category)
	if err != nil {
		return err
	}
	target := e.targets.AuditTarget("subject", it.subjectID)
	switch {
	case !a.isStaff():
		return e.refused(ctx, a, action, target, errcode.E(errcode.Forbidden, "only staff decide on an erasure"))
	case !role.mayApproveErasure():
		return e.refused(ctx, a, action, target, errcode.E(errcode.Forbidden, "the %s role may not approve or refuse erasures; owner, dpo and support may", truncate(string(role), 32)))
	case it.state != "awaiting_approval":
		return e.refused(ctx, a, action, target, errcode.E(errcode.Conflict, "the erasure of %s is not waiting for approval (it is %s)", category, it.state))
	case !approve && (strings.TrimSpace(reason) == "" || !validText(reason)):
		return e.refused(ctx, a, action, target, errcode.Field("reason", "a refusal needs a reason: the person is told why their data is kept"))
	}
	to := "refused"
	if approve {
		to = "erased"
	}
	b := fmt.Appendf(nil, `{"erasure":%q,"category":%q,"role":%q,"reason":%q}`, erasureID, category, role, reason)
	details, keyID, err := e.vault.Seal(ctx, it.subjectID, b, "audit", target)
	if err != nil {
		return fmt.Errorf("seal audit details: %w", err)
	}
	// Claim the item first, with its audit event: of two staff members
	// deciding at once, exactly one wins, and the loser changes nothing.
	err = e.db.Write(ctx, func(tx *sqlstore.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE erasure_items SET state = $1, decided_by = $2, decided_at = $3
			WHERE erasure_id = $4 AND category = $5 AND state = 'awaiting_approval'`,
			to, a.Name, sqlstore.Micros(e.now()), erasureID, category)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(err, errcode.E(errcode.Conflict, "the erasure of %s was decided meanwhile", category))
		}
		_, err = e.audit.Append(ctx, tx, audit.Event{Actor: a.Name, Action: action, Purpose: a.Purpose,
			Target: target, Result: "ok", KeyID: keyID, Details: details})
		return err
	})
	if err != nil {
		return err
	}
	if approve {
		if err := e.eraseItem(ctx, vault.Actor{Name: a.Name, Purpose: "dsr"}, it); err != nil {
			return e.release(ctx, it, "awaiting_approval", err)
		}
		if err := e.notifyItem(ctx, it); err != nil {
			return err
		}
	}
	return e.completeRequest(ctx, a, it.erasureID)
}

// completeRequest moves the request an erasure answers from
// awaiting_approval to completed once no category of the erasure waits for
// approval any more. It needs ErasureOptions.Requests; without it the
// request is left for staff to close.
func (e *Eraser) completeRequest(ctx context.Context, a Actor, erasureID string) error {
	if e.requests == nil {
		return nil
	}
	var requestID string
	var waiting int
	err := e.db.Read().QueryRowContext(ctx, `SELECT x.request_id, (SELECT COUNT(*) FROM erasure_items i
		WHERE i.erasure_id = x.id AND i.state = 'awaiting_approval') FROM erasures x WHERE x.id = $1`, erasureID).Scan(&requestID, &waiting)
	if err != nil {
		return fmt.Errorf("read erasure: %w", err)
	}
	if requestID == "" || waiting > 0 {
		return nil
	}
	r, err := e.requests.Get(ctx, requestID)
	if err != nil || r.State != AwaitingApproval {
		return err
	}
	_, err = e.requests.Transition(ctx, a, requestID, Completed, Reason{Text: "erasure " + erasureID + ": approvals decided"})
	return err
}

// release puts a claimed item back in state from after its erasure
// failed, so that the erasure is tried again (by the sweep, or by another
// approval) instead of being recorded as done. It returns cause, joined
// with the failure to release if that fails too.
func (e *Eraser) release(ctx context.Context, it item, from string, cause error) error {
	ctx = context.WithoutCancel(ctx)
	err := e.db.Write(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE erasure_items SET state = $1, decided_by = '', decided_at = NULL
			WHERE erasure_id = $2 AND category = $3 AND state = 'erased'`, from, it.erasureID, it.category)
		return err
	})
	if err != nil {
		return errors.Join(cause, fmt.Errorf("release erasure item: %w", err))
	}
	return cause
}

type item struct {
	erasureID, subjectID, category, state string
	wholeAccount                          bool
}

func (e *Eraser) loadItem(ctx context.Context, erasureID, category string) (item, error) {
	it := item{erasureID: erasureID, category: category}
	if !ValidErasureID(erasureID) {
		return it, errcode.E(errcode.NotFound, "no such erasure")
	}
	var whole int
	err := e.db.Read().QueryRowContext(ctx, `SELECT i.subject_id, i.state, x.whole_account FROM erasure_items i
		JOIN erasures x ON x.id = i.erasure_id WHERE i.erasure_id = $1 AND i.category = $2`, erasureID, category).
		Scan(&it.subjectID, &it.state, &whole)
	if errors.Is(err, sql.ErrNoRows) {
		return it, errcode.E(errcode.NotFound, "this erasure has no pending %s category", truncate(category, 64))
	}
	if err != nil {
		return it, fmt.Errorf("read erasure item: %w", err)
	}
	it.wholeAccount = whole == 1
	return it, nil
}

// eraseItem erases a category whose item is already marked erased, and
// the whole account when that erasure asked for it and this was the last
// category kept or waiting.
func (e *Eraser) eraseItem(ctx context.Context, va vault.Actor, it item) error {
	if _, err := e.vault.EraseCategory(ctx, va, it.subjectID, it.category); err != nil && errcode.Of(err) != errcode.NotFound {
		return fmt.Errorf("erase %s: %w", it.category, err)
	}
	if !it.wholeAccount {
		return nil
	}
	var open int
	if err := e.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM erasure_items WHERE erasure_id = $1
		AND state IN ('scheduled', 'awaiting_approval', 'refused')`, it.erasureID).Scan(&open); err != nil {
		return fmt.Errorf("read erasure items: %w", err)
	}
	if open > 0 {
		return nil
	}
	if _, err := e.vault.Erase(ctx, va, it.subjectID); err != nil && errcode.Of(err) != errcode.NotFound {
		return fmt.Errorf("erase account: %w", err)
	}
	return nil
}

// notifyItem tells the recipients (Art. 19) that a category erased after
// an approval or at the end of its hold is gone, and records the message
// on the item. It runs after the vault's erasure committed, in a
// transaction of its own; if it fails, the data is erased and the error
// says that the recipients were not told.
func (e *Eraser) notifyItem(ctx context.Context, it item) error {
	if e.notifier == nil {
		return nil
	}
	var account int
	err := e.db.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM subjects WHERE id = $1", it.subjectID).Scan(&account)
	if err != nil {
		return fmt.Errorf("notify recipients of %s: %w", it.category, err)
	}
	err = e.db.Write(ctx, func(tx *sqlstore.Tx) error {
		var requestID string
		if err := tx.QueryRowContext(ctx, "SELECT request_id FROM erasures WHERE id = $1", it.erasureID).Scan(&requestID); err != nil {
			return err
		}
		msgID, _, err := e.notifier.NotifyErasureTx(ctx, tx, it.subjectID, requestID, []string{it.category}, it.wholeAccount && account == 0)
		if err != nil || msgID == "" {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE erasure_items SET webhook_msg_id = $1 WHERE erasure_id = $2 AND category = $3",
			msgID, it.erasureID, it.category)
		return err
	})
	if err != nil {
		return fmt.Errorf("erased %s, but notify recipients: %w", it.category, err)
	}
	return nil
}

// sweepBatch bounds one pass of Sweep.
const sweepBatch = 100

// Sweep erases the held categories whose duty has ended (due_at passed),
// as the scheduled end of a legal hold. The maintenance loop calls it; it
// is safe on several replicas at once, since each item is claimed by a
// conditional update before it is erased. It returns how many categories
// it erased.
func (e *Eraser) Sweep(ctx context.Context) (int, error) {
	now := sqlstore.Micros(e.now())
	rows, err := e.db.Read().QueryContext(ctx, `SELECT i.erasure_id, i.subject_id, i.category, x.whole_account
		FROM erasure_items i JOIN erasures x ON x.id = i.erasure_id
		WHERE i.state = 'scheduled' AND i.due_at <= $1 ORDER BY i.due_at LIMIT $2`, now, sweepBatch)
	if err != nil {
		return 0, fmt.Errorf("erasure sweep: %w", err)
	}
	var due []item
	for rows.Next() {
		var it item
		var whole int
		if err := rows.Scan(&it.erasureID, &it.subjectID, &it.category, &whole); err != nil {
			rows.Close()
			return 0, err
		}
		it.wholeAccount = whole == 1
		due = append(due, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	system := vault.Actor{Name: "system", Purpose: "dsr"}
	n := 0
	for _, it := range due {
		target := e.targets.AuditTarget("subject", it.subjectID)
		claimed := false
		err := e.db.Write(ctx, func(tx *sqlstore.Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE erasure_items SET state = 'erased', decided_by = 'system', decided_at = $1
				WHERE erasure_id = $2 AND category = $3 AND state = 'scheduled'`, now, it.erasureID, it.category)
			if err != nil {
				return err
			}
			if k, err := res.RowsAffected(); err != nil || k != 1 {
				return err // another replica took it
			}
			claimed = true
			_, err = e.audit.Append(ctx, tx, audit.Event{Actor: system.Name, Action: "erasure.hold_ended",
				Purpose: system.Purpose, Target: target, Result: "ok"})
			return err
		})
		if err != nil {
			return n, fmt.Errorf("erasure sweep: %w", err)
		}
		if !claimed {
			continue
		}
		if err := e.eraseItem(ctx, system, it); err != nil {
			return n, fmt.Errorf("erasure sweep: %w", e.release(ctx, it, "scheduled", err))
		}
		if err := e.notifyItem(ctx, it); err != nil {
			return n, fmt.Errorf("erasure sweep: %w", err)
		}
		n++
	}
	return n, nil
}
