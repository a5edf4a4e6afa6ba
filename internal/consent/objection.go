package consent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// ObjectionDecision is staff's decision on an objection (Art. 21(1)) to a
// purpose based on legitimate interests or a public task.
type ObjectionDecision string

const (
	// Upheld: the objection stands and processing stops.
	Upheld ObjectionDecision = "upheld"
	// Overridden: the controller demonstrated compelling legitimate
	// grounds that override the person's interests, or needs the data for
	// legal claims; processing goes on.
	Overridden ObjectionDecision = "overridden"
)

const maxJustificationLen = 4000

// DecideObjection records staff's decision on the person's pending
// objection to purpose. Until it is taken, the consent check answers
// allowed:false with reason restricted (Art. 18(1)(d)); afterwards it
// answers objected (upheld) or allowed on the legal basis (overridden).
// Only staff decide, with a written justification, sealed with the
// subject's key and audited in the same transaction. There is nothing to
// decide on an objection to direct marketing, which is absolute (Art.
// 21(3)), nor on an objection already decided; a new objection by the
// person needs a new decision. Refusals change nothing and are audited.
func (r *Register) DecideObjection(ctx context.Context, a Actor, subjectID, purpose string, d ObjectionDecision, justification string) error {
	if !idPattern.MatchString(subjectID) {
		return subjectNotFound()
	}
	if !slugPattern.MatchString(purpose) {
		return purposeNotFound(purpose)
	}
	target := r.subjectTarget(subjectID)
	switch {
	case !strings.HasPrefix(a.Name, "staff:") || len(a.Name) == len("staff:"):
		return r.refused(ctx, a, target, errcode.E(errcode.Forbidden, "only staff decide on an objection"))
	case d != Upheld && d != Overridden:
		return r.refused(ctx, a, target, errcode.Field("decision", "the decision is upheld or overridden"))
	case strings.TrimSpace(justification) == "" || len(justification) > maxJustificationLen || !validText(justification):
		return r.refused(ctx, a, target, errcode.Field("justification", "a decision on an objection needs a written justification of at most %d characters", maxJustificationLen))
	}
	var recordID string
	err := r.db.ReadTx(ctx, func(q sqlstore.Querier) error {
		var err error
		recordID, err = pendingObjection(ctx, q, subjectID, purpose)
		return err
	})
	if err != nil {
		if c := errcode.Of(err); c == errcode.Conflict || c == errcode.Invalid {
			return r.refused(ctx, a, target, err)
		}
		return err
	}
	sealed, keyID, err := r.sealer.Seal(ctx, subjectID, []byte(justification), "objection_decision", recordID)
	if err != nil {
		return fmt.Errorf("seal justification: %w", err)
	}
	details, detailsKey, err := r.sealDetails(ctx, subjectID, target, map[string]any{
		"record": recordID, "purpose": purpose, "decision": d,
	})
	if err != nil {
		return fmt.Errorf("seal audit details: %w", err)
	}
	defer r.Invalidate(subjectID) // after the commit (or a failure that may have committed)
	return r.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if _, err := lockSubject(ctx, tx, subjectID); err != nil {
			return err
		}
		// The objection may have been decided, or followed by another
		// record, since it was read: check again under the lock.
		current, err := pendingObjection(ctx, tx, subjectID, purpose)
		if err != nil {
			return err
		}
		if current != recordID {
			return errcode.E(errcode.Conflict, "the person recorded something new for %s meanwhile; decide again", purpose)
		}
		seq, err := r.audit.Append(ctx, tx, audit.Event{Actor: a.Name, Action: "consent.objection.decide", Purpose: a.Purpose,
			Target: target, Result: "ok", KeyID: detailsKey, Details: details})
		if err != nil {
			return fmt.Errorf("audit consent.objection.decide: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO objection_decisions (record_id, subject_id, purpose, decision, sealed, key_id,
			decided_by, decided_at, audit_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, recordID, subjectID, purpose,
			string(d), sealed, keyID, a.Name, sqlstore.Micros(r.now()), seq); err != nil {
			return fmt.Errorf("insert objection decision: %w", err)
		}
		_, err = tx.ExecContext(ctx, "UPDATE consent_state SET decision = $1 WHERE subject_id = $2 AND purpose = $3 AND record_id = $4",
			string(d), subjectID, purpose, recordID)
		return err
	})
}

// pendingObjection returns the id of the person's undecided objection to
// purpose, or a Conflict/Invalid error saying why there is nothing to
// decide.
func pendingObjection(ctx context.Context, q sqlstore.Querier, subjectID, purpose string) (string, error) {
	p, err := loadRule(ctx, q, purpose)
	if err != nil {
		return "", err
	}
	if p.dm {
		return "", errcode.Field("purpose", "an objection to direct marketing is absolute (GDPR Art. 21(3)): there is nothing to decide")
	}
	if !p.basis.Objectable() {
		return "", errcode.Field("purpose", "%s is not based on legitimate interests or a public task: there is no objection to decide", purpose)
	}
	var kind, recordID, decision string
	err = q.QueryRowContext(ctx, "SELECT kind, record_id, decision FROM consent_state WHERE subject_id = $1 AND purpose = $2",
		subjectID, purpose).Scan(&kind, &recordID, &decision)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && kind != string(Object)) {
		return "", errcode.E(errcode.Conflict, "the person has no pending objection to %s", purpose)
	}
	if err != nil {
		return "", fmt.Errorf("read consent state: %w", err)
	}
	if decision != "" {
		return "", errcode.E(errcode.Conflict, "the objection to %s was already decided (%s)", purpose, decision)
	}
	return recordID, nil
}

// refused audits a refused decision about a subject and returns the
// refusal. Like a read, the event records an attempt, not a change, so it
// is committed with relaxed durability.
func (r *Register) refused(ctx context.Context, a Actor, target string, refusal error) error {
	err := r.db.WriteWith(ctx, sqlstore.Relaxed, func(tx *sqlstore.Tx) error {
		_, err := r.audit.Append(ctx, tx, audit.Event{Actor: a.Name, Action: "consent.objection.decide", Purpose: a.Purpose,
			Target: target, Result: string(errcode.Of(refusal))})
		return err
	})
	if err != nil {
		return errors.Join(refusal, fmt.Errorf("audit refused decision: %w", err))
	}
	return refusal
}
