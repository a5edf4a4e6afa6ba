package dsr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gdprd/gdprd/internal/vault"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// EventKind is what a request event records.
type EventKind string

const (
	EventSubmit     EventKind = "submit"     // the request was taken in
	EventMerge      EventKind = "merge"      // a duplicate submission was merged into it
	EventTransition EventKind = "transition" // its state changed
	EventExtend     EventKind = "extend"     // its deadline was extended (Art. 12(3))
	EventAssign     EventKind = "assign"     // it was assigned to a staff member
	EventLink       EventKind = "link"       // the person's identity was established
)

// maxAttempts bounds how often a change is planned again after losing a
// race. A retry happens only when another writer of the same request (or
// idempotency key) committed in between, so this is the number of
// concurrent writers of one request that are served before one of them is
// told to try again, not a time budget.
const maxAttempts = 64

// errNoChange lets a plan say that the request already is as asked.
var errNoChange = errors.New("dsr: nothing to change")

// change is one planned change of a request.
type change struct {
	event  EventKind
	reason Reason
	facts  map[string]any
	notify string
	next   Request // the request after the change
}

// payload is what an event carries in words: sealed with the subject's
// key (or, for a request without a subject, Text alone kept in the clear).
type payload struct {
	Text     string   `json:"text,omitempty"`
	Personal *Details `json:"personal,omitempty"`
}

// moveTo moves r to state to at now, keeping the identity-wait account:
// the time in awaiting_identity is added up on leaving it, and the
// deadlines are left alone.
func (r *Request) moveTo(to State, now time.Time) {
	if r.State == AwaitingIdentity && to != AwaitingIdentity {
		r.identityWait += now.Sub(r.AwaitingIdentitySince)
		r.AwaitingIdentitySince = time.Time{}
	}
	if to == AwaitingIdentity && r.State != AwaitingIdentity {
		r.AwaitingIdentitySince = now
	}
	r.State = to
	if !to.Open() {
		r.ClosedAt = now
	}
}

// present fills in what is derived at read time.
func (r *Request) present(now time.Time) {
	r.IdentityWait = r.identityWait
	if r.State == AwaitingIdentity && now.After(r.AwaitingIdentitySince) {
		r.IdentityWait += now.Sub(r.AwaitingIdentitySince)
	}
}

// modify plans a change on the current request and writes it, planning
// again when another writer changed the request in between. A plan that
// refuses (a coded error) changes nothing and is audited under action.
func (s *Service) modify(ctx context.Context, a Actor, id, action string, plan func(cur Request, now time.Time) (change, error)) (Request, error) {
	if err := checkActor(a); err != nil {
		return Request{}, err
	}
	for range maxAttempts {
		cur, err := loadRequest(ctx, s.db.Read(), id)
		if err != nil {
			return Request{}, err
		}
		now := s.now()
		c, err := plan(cur, now)
		if errors.Is(err, errNoChange) {
			cur.present(now)
			return cur, nil
		}
		if err != nil {
			return Request{}, s.refuse(ctx, a, action, &cur, err)
		}
		err = s.write(ctx, a, action, cur, &c, now)
		switch {
		case errors.Is(err, errStale):
			continue
		case sqlstore.IsUniqueViolation(err):
			// Only a link can meet another open request of the same
			// person and kind.
			return Request{}, s.refuse(ctx, a, action, &cur, errcode.Wrap(err, errcode.Conflict,
				"this person already has an open %s request; merge or close one first", cur.Kind))
		case err != nil:
			// A coded error here is a refusal too: sealing for a
			// subject that does not exist is NotFound.
			return Request{}, s.refuse(ctx, a, action, &cur, err)
		}
		c.next.present(now)
		return c.next, nil
	}
	return Request{}, errcode.E(errcode.Conflict, "the request changed while this was being done; try again")
}

// refuse audits a coded refusal about r and returns it; other errors are
// returned as they are.
func (s *Service) refuse(ctx context.Context, a Actor, action string, r *Request, err error) error {
	if _, coded := errcode.As(err); !coded {
		return err
	}
	return s.auditRefusal(ctx, a, action, s.requestTarget(r), err)
}

// write applies c to cur in one transaction: the request row (only if
// still at cur's version), the audit event, the request event and any
// notification owed to the person. Sealing happens first, outside the
// transaction: it may read the key store, and SQLite's single writer must
// not wait on that.
func (s *Service) write(ctx context.Context, a Actor, action string, cur Request, c *change, now time.Time) error {
	next := &c.next
	next.Version = cur.Version + 1
	next.UpdatedAt = now
	ev := &eventRow{version: next.Version, at: now, actor: a.Name, kind: c.event, from: cur.State,
		to: next.State, reason: c.reason.Code, facts: c.facts}
	if err := s.sealEvent(ctx, next, ev, payload{Text: c.reason.Text}); err != nil {
		return err
	}
	target := s.requestTarget(next)
	details, keyID, err := s.auditDetails(ctx, next, target, auditFacts(next, ev))
	if err != nil {
		return err
	}
	return s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if err := updateRequest(ctx, tx, cur.Version, next); err != nil {
			return err
		}
		return s.record(ctx, tx, a, action, target, details, keyID, next.ID, ev, c.notify)
	})
}

// sealEvent puts p into ev: sealed with the subject's key and bound to the
// event's place, or, for a request without a subject, the text in the
// clear (such a request carries no personal details; Submit refuses them).
func (s *Service) sealEvent(ctx context.Context, r *Request, ev *eventRow, p payload) error {
	if p.Text == "" && p.Personal == nil {
		return nil
	}
	if r.SubjectID == "" {
		if p.Personal != nil {
			return errors.New("dsr: personal details on a request without a subject")
		}
		ev.note = p.Text
		return nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	ev.sealed, ev.keyID, err = s.sealer.Seal(ctx, r.SubjectID, b, eventAD(r.ID, ev.version)...)
	if err != nil {
		return fmt.Errorf("seal request event: %w", err)
	}
	return nil
}

// eventAD and detailsAD bind sealed values to their row, so a sealed value
// copied to another request or event does not open there.
func eventAD(requestID string, version int64) []string {
	return []string{"request_event", requestID, fmt.Sprint(version)}
}

func detailsAD(requestID string) []string { return []string{"request_details", requestID} }

// auditFacts are the audit details of a change: enough to tie the audit
// event to its request event, and nothing personal.
func auditFacts(r *Request, ev *eventRow) map[string]any {
	return map[string]any{
		"request": r.ID, "version": ev.version, "event": ev.kind,
		"from": ev.from, "to": ev.to, "reason": ev.reason,
	}
}

// record appends the audit event and the request event of one change, and
// queues the notification it owes, in tx.
func (s *Service) record(ctx context.Context, tx *sqlstore.Tx, a Actor, action, target string, details []byte, keyID, requestID string, ev *eventRow, notify string) error {
	seq, err := s.audit.Append(ctx, tx, audit.Event{
		Actor: a.Name, Action: action, Purpose: a.Purpose, Target: target,
		Result: "ok", KeyID: keyID, Details: details,
	})
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	ev.auditSeq = seq
	if err := insertEvent(ctx, tx, requestID, ev); err != nil {
		return err
	}
	if notify != "" {
		return insertNotification(ctx, tx, requestID, ev.version, notify, ev.at)
	}
	return nil
}

// Transition moves request id to state to, for the reason given. Moves the
// lifecycle does not allow are a Conflict; a refusal needs a refusal code
// that applies to the request's kind and the justification in words
// (Invalid otherwise), and queues the refusal notice to the person. A
// person (actor "subject:<id>") may only withdraw their own request.
// Refusals change nothing and are audited.
func (s *Service) Transition(ctx context.Context, a Actor, id string, to State, r Reason) (Request, error) {
	action := "dsr.request.transition"
	if to.valid() {
		action = "dsr.request." + string(to)
	}
	return s.modify(ctx, a, id, action, func(cur Request, now time.Time) (change, error) {
		if !to.valid() {
			return change{}, errcode.Field("state", "unknown state %q", truncate(string(to), 32))
		}
		if subjectID, ok := a.subjectID(); ok {
			if cur.SubjectID != subjectID {
				return change{}, requestNotFound()
			}
			if to != Withdrawn {
				return change{}, errcode.E(errcode.Forbidden, "a person can withdraw a request, not decide it")
			}
		}
		if !CanTransition(cur.State, to) {
			return change{}, errcode.E(errcode.Conflict, "a request cannot go from %s to %s", cur.State, to)
		}
		if err := checkReason(cur.Kind, to, r); err != nil {
			return change{}, err
		}
		if cur.State == AwaitingIdentity && to == InProgress && cur.SubjectID == "" {
			return change{}, errcode.E(errcode.Conflict, "the person's identity is not established: link the request to its subject first")
		}
		next := cur
		next.moveTo(to, now)
		c := change{event: EventTransition, reason: r, next: next}
		if to == Refused {
			c.notify = NotifyRefusal
		}
		return c, nil
	})
}

// checkReason checks that r may justify moving a request of kind k to to.
func checkReason(k Kind, to State, r Reason) error {
	if len(r.Text) > maxReasonText || !validText(r.Text) {
		return errcode.Field("reason.text", "a justification is at most %d bytes of text", maxReasonText)
	}
	if to == Refused {
		if r.Code == "" {
			return errcode.Field("reason.code", "a refusal needs a reason code (Art. 12(4))")
		}
		if r.Text == "" {
			return errcode.Field("reason.text", "a refusal needs its justification in words: the person is told why (Art. 12(4)) and the controller must be able to prove it (Art. 12(5))")
		}
	}
	if r.Code == "" {
		return nil
	}
	info, known := reasons[r.Code]
	u, applies := stateUse(to)
	if !known || !applies || info.use != u || (info.only != "" && info.only != k) {
		return errcode.Field("reason.code", "%q is not a reason for moving a %s request to %s", truncate(string(r.Code), 48), k, to)
	}
	return nil
}

// Extend applies the Art. 12(3) extension to request id: two further
// months, counted from receipt, once only, and only up to the legal
// deadline (with the injected clock), for complexity or the number of
// requests. Both deadlines move. The person must be told within the first
// month, so a notice is queued with the event. A refused extension (a
// second one, a late one, a closed request) is a Conflict that wraps
// ErrAlreadyExtended or ErrExtensionTooLate where they apply, changes
// nothing and is audited.
func (s *Service) Extend(ctx context.Context, a Actor, id string, r Reason) (Request, error) {
	return s.modify(ctx, a, id, "dsr.request.extend", func(cur Request, now time.Time) (change, error) {
		if _, ok := a.subjectID(); ok {
			return change{}, errcode.E(errcode.Forbidden, "only staff extend a deadline")
		}
		if info, ok := reasons[r.Code]; !ok || info.use != useExtend {
			return change{}, errcode.Field("reason.code", "an extension is justified by complexity or number-of-requests (Art. 12(3))")
		}
		if len(r.Text) > maxReasonText || !validText(r.Text) {
			return change{}, errcode.Field("reason.text", "a justification is at most %d bytes of text", maxReasonText)
		}
		if !cur.State.Open() {
			return change{}, errcode.E(errcode.Conflict, "a %s request cannot be extended", cur.State)
		}
		_, err := s.cal.Extend(Deadlines{Received: cur.ReceivedAt, LegalAt: cur.LegalDueAt, Extended: cur.Extended}, now)
		switch {
		case errors.Is(err, ErrAlreadyExtended):
			return change{}, errcode.Wrap(err, errcode.Conflict, "the deadline was already extended: Art. 12(3) allows one extension")
		case errors.Is(err, ErrExtensionTooLate):
			return change{}, errcode.Wrap(err, errcode.Conflict, "the legal deadline has passed: an extension must be decided and told to the person before it (Art. 12(3))")
		case err != nil:
			return change{}, err
		}
		next := cur
		next.LegalDueAt, next.TargetDueAt = s.due(cur.ReceivedAt, 3)
		next.Extended, next.ExtensionReason = true, r.Code
		return change{event: EventExtend, reason: r, notify: NotifyExtension, next: next, facts: map[string]any{
			"legal_due_at": next.LegalDueAt, "target_due_at": next.TargetDueAt,
			"previous_legal_due_at": cur.LegalDueAt, "previous_target_due_at": cur.TargetDueAt,
		}}, nil
	})
}

// Assign gives request id to a staff member ("staff:<id>"), or takes it
// back when staff is empty. Assigning it to whoever has it already changes
// nothing and records nothing.
func (s *Service) Assign(ctx context.Context, a Actor, id, staff string) (Request, error) {
	return s.modify(ctx, a, id, "dsr.request.assign", func(cur Request, now time.Time) (change, error) {
		if _, ok := a.subjectID(); ok {
			return change{}, errcode.E(errcode.Forbidden, "only staff assign requests")
		}
		if staff != "" && (!hasID(staff, "staff:") || len(staff) > 128 || !validText(staff)) {
			return change{}, errcode.Field("assigned_to", "requests are assigned to a staff member (staff:<id>)")
		}
		if !cur.State.Open() {
			return change{}, errcode.E(errcode.Conflict, "a %s request is not assigned any more", cur.State)
		}
		if cur.AssignedTo == staff {
			return change{}, errNoChange
		}
		next := cur
		next.AssignedTo = staff
		return change{event: EventAssign, next: next, facts: map[string]any{
			"assigned_to": staff, "previously_assigned_to": cur.AssignedTo,
		}}, nil
	})
}

// Link records that the person behind request id, received without an
// established identity (the public form, a letter from an unknown
// address), is subject subjectID. From then on the request's events are
// audited under that subject and sealed with its key. A request already
// linked is a Conflict, and so is a link that would give the person two
// open requests of the same kind.
func (s *Service) Link(ctx context.Context, a Actor, id, subjectID string) (Request, error) {
	return s.modify(ctx, a, id, "dsr.request.link", func(cur Request, now time.Time) (change, error) {
		if _, ok := a.subjectID(); ok {
			return change{}, errcode.E(errcode.Forbidden, "identity is established by the verification, not by the person")
		}
		if !vault.ValidSubjectID(subjectID) {
			return change{}, subjectNotFound()
		}
		if cur.SubjectID != "" {
			return change{}, errcode.E(errcode.Conflict, "the request is already linked to its subject")
		}
		if !cur.State.Open() {
			return change{}, errcode.E(errcode.Conflict, "a %s request is not linked any more", cur.State)
		}
		next := cur
		next.SubjectID = subjectID
		return change{event: EventLink, next: next}, nil
	})
}
