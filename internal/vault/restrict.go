package vault

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// maxRestrictionText bounds a restriction's reason and its notice evidence.
const maxRestrictionText = 500

// Restriction is a change of a subject's restriction of processing
// (Art. 18).
type Restriction struct {
	// Restricted is the state asked for.
	Restricted bool
	// Reason says why (Art. 18(1)(a)-(d)); required. It is personal
	// context, so it goes only into the audit details, sealed with the
	// subject's key.
	Reason string
	// NotifiedBy is how the person was told before their restriction was
	// lifted (Art. 18(3)), when it was not by e-mail through Notify: "by
	// letter of 3 May", "by phone". Required to lift the restriction of a
	// subject without an e-mail address.
	NotifiedBy string
	// Notify tells the person, before the restriction is lifted, at their
	// e-mail address; it runs inside the transaction that lifts it (so the
	// notice and the lifting commit together, or neither does) and is
	// only called for a subject that has an e-mail address. Queue the mail
	// through the outbox there.
	Notify func(ctx context.Context, tx *sqlstore.Tx, email string) error
}

// RestrictionResult says what SetRestriction did.
type RestrictionResult struct {
	SubjectID  string `json:"subject_id"`
	Restricted bool   `json:"restricted"`
	// Changed is false when the subject already was in the state asked
	// for: nothing was written but the audit event.
	Changed bool `json:"changed"`
	// Notified is how the person was told of a lifting: "email" or
	// "other" (NotifiedBy); empty otherwise.
	Notified string `json:"notified,omitempty"`
}

// SetRestriction restricts or lifts the restriction of a subject's
// processing. While restricted, reads for any purpose but storage and
// legal claims answer Restricted (423 at the API), and the consent check
// answers allowed:false with reason restricted. Lifting tells the person
// first (Art. 18(3)): Notify queues a mail to their e-mail address in the
// same transaction; a subject without one needs r.NotifiedBy, or the
// lifting is refused. Every outcome, refusals included, is audited (the
// reason sealed with the subject's key), and the subject-change hook runs
// after the commit so that cached consent decisions are dropped.
func (v *Vault) SetRestriction(ctx context.Context, a Actor, id string, r Restriction) (RestrictionResult, error) {
	action := "subject.restrict"
	if !r.Restricted {
		action = "subject.restriction.lift"
	}
	if !ValidSubjectID(id) {
		return RestrictionResult{}, notFound()
	}
	target := v.target(id)
	var refusal error
	switch {
	case strings.TrimSpace(r.Reason) == "":
		refusal = errcode.Field("reason", "say why the processing is restricted or why the restriction ends")
	case len(r.Reason) > maxRestrictionText || !utf8.ValidString(r.Reason) || strings.ContainsRune(r.Reason, 0):
		refusal = errcode.Field("reason", "the reason is at most %d bytes of text", maxRestrictionText)
	case len(r.NotifiedBy) > maxRestrictionText || !utf8.ValidString(r.NotifiedBy) || strings.ContainsRune(r.NotifiedBy, 0):
		refusal = errcode.Field("notified_by", "at most %d bytes of text", maxRestrictionText)
	case r.Restricted && r.NotifiedBy != "":
		refusal = errcode.Field("notified_by", "notified_by is the evidence of telling the person before a restriction is lifted")
	}
	if refusal != nil {
		return RestrictionResult{}, v.refuseRestriction(ctx, a, action, target, refusal)
	}
	out := RestrictionResult{SubjectID: id, Restricted: r.Restricted}
	err := v.db.Write(ctx, func(tx *sqlstore.Tx) error {
		out.Changed, out.Notified = false, ""
		st, err := v.mustLoad(ctx, tx, id)
		if err != nil {
			return err
		}
		cur, dk, err := v.open(ctx, st)
		if err != nil {
			return err
		}
		details := map[string]any{"reason": r.Reason}
		if cur.Restricted == r.Restricted {
			return v.appendAudit(ctx, tx, a, action, target, "unchanged", dk, details)
		}
		if !r.Restricted {
			switch {
			case strings.TrimSpace(r.NotifiedBy) != "":
				out.Notified = "other"
				details["notified_by"] = r.NotifiedBy
			case cur.Email != "" && r.Notify != nil:
				if err := r.Notify(ctx, tx, cur.Email); err != nil {
					return fmt.Errorf("tell the person: %w", err)
				}
				out.Notified = "email"
			default:
				return errcode.Field("notified_by", "the person has no e-mail address: tell them before the restriction is lifted (Art. 18(3)) and give notified_by, how they were told")
			}
			details["notified"] = out.Notified
		}
		flag := 0
		if r.Restricted {
			flag = 1
		}
		if _, err := tx.ExecContext(ctx, "UPDATE subjects SET restricted = $1, updated_at = $2 WHERE id = $3",
			flag, sqlstore.Micros(v.now()), id); err != nil {
			return fmt.Errorf("set restriction: %w", err)
		}
		out.Changed = true
		return v.appendAudit(ctx, tx, a, action, target, "ok", dk, details)
	})
	if _, coded := errcode.As(err); coded && errcode.Of(err) != errcode.NotFound {
		return RestrictionResult{}, v.refuseRestriction(ctx, a, action, target, err)
	}
	if errcode.Of(err) == errcode.NotFound {
		return RestrictionResult{}, v.refuseRestriction(ctx, a, action, target, notFound())
	}
	if err != nil {
		return RestrictionResult{}, err
	}
	if out.Changed {
		v.subjectChanged(id)
	}
	return out, nil
}

// refuseRestriction audits a refused restriction change and returns the
// refusal.
func (v *Vault) refuseRestriction(ctx context.Context, a Actor, action, target string, refusal error) error {
	if err := v.Audit(ctx, a, action, target, string(errcode.Of(refusal))); err != nil {
		return fmt.Errorf("audit refused %s: %w", action, err)
	}
	return refusal
}
