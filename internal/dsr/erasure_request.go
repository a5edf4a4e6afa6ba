package dsr

import (
	"context"
	"slices"

	"github.com/gdprd/gdprd/internal/errcode"
)

// Selection narrows what an erasure request erases when it is carried
// out: the whole account (All) or some Categories. The zero Selection
// erases what the request asked for.
type Selection struct {
	All        bool
	Categories []string
}

func (s Selection) empty() bool { return !s.All && len(s.Categories) == 0 }

// ExecuteRequest carries out an erasure request that is in progress: it
// erases the categories the request names (or the whole account), with
// the holds and approvals of the policy, links the erasure to the request,
// and moves the request to completed, or to awaiting_approval while a
// category waits for a staff approval. It returns the erasure and the
// request as it now stands. A request of another kind, one not in
// progress, or one without an established subject is refused before
// anything is erased.
func (e *Eraser) ExecuteRequest(ctx context.Context, svc *Service, a Actor, requestID string, recipients []string) (ErasureResult, Request, error) {
	return e.ExecuteRequestFor(ctx, svc, a, requestID, Selection{}, recipients)
}

// ExecuteRequestFor is ExecuteRequest erasing sel, which may not ask for
// more than the request did: the whole account only when the request
// asked for it, and only categories the request named (any, when it
// asked for everything). A selection asking for more is refused, audited,
// and erases nothing.
func (e *Eraser) ExecuteRequestFor(ctx context.Context, svc *Service, a Actor, requestID string, sel Selection, recipients []string) (ErasureResult, Request, error) {
	r, in, err := e.requestInput(ctx, svc, a, requestID, sel)
	if err != nil {
		return ErasureResult{}, r, err
	}
	if r.State != InProgress {
		return ErasureResult{}, r, errcode.E(errcode.Conflict, "an erasure request is carried out while in progress, not %s", r.State)
	}
	in.Recipients = recipients
	res, err := e.Execute(ctx, a, in)
	if err != nil {
		return ErasureResult{}, r, err
	}
	to := Completed
	if len(res.Claims.AwaitingApproval) > 0 {
		to = AwaitingApproval
	}
	r, err = svc.Transition(ctx, a, r.ID, to, Reason{Text: "erasure " + res.ID})
	return res, r, err
}

// PlanRequest says what carrying out the erasure request with sel would
// do, changing nothing; the request may be in any open state.
func (e *Eraser) PlanRequest(ctx context.Context, svc *Service, a Actor, requestID string, sel Selection) (Plan, Request, error) {
	r, in, err := e.requestInput(ctx, svc, a, requestID, sel)
	if err != nil {
		return Plan{}, r, err
	}
	if !r.State.Open() {
		return Plan{}, r, errcode.E(errcode.Conflict, "the request is %s", r.State)
	}
	p, err := e.Plan(ctx, a, in)
	return p, r, err
}

// requestInput checks that requestID is an erasure request of an
// established subject and that sel stays within it, and returns what to
// erase.
func (e *Eraser) requestInput(ctx context.Context, svc *Service, a Actor, requestID string, sel Selection) (Request, ErasureInput, error) {
	r, err := svc.Get(ctx, requestID)
	if err != nil {
		return Request{}, ErasureInput{}, err
	}
	switch {
	case r.Kind != Erasure:
		return r, ErasureInput{}, errcode.Field("kind", "request %s asks for %s, not erasure", r.ID, r.Kind)
	case r.SubjectID == "":
		return r, ErasureInput{}, errcode.E(errcode.Conflict, "the person's identity is not established")
	}
	in := ErasureInput{SubjectID: r.SubjectID, RequestID: r.ID, All: r.Details.All, Categories: r.Details.Categories}
	if sel.empty() {
		return r, in, nil
	}
	var refusal error
	switch {
	case sel.All && len(sel.Categories) > 0:
		refusal = errcode.Field("categories", "erase either the whole account or named categories, not both")
	case sel.All && !r.Details.All:
		refusal = errcode.Field("all", "the request asked to erase some categories, not the whole account")
	case !r.Details.All:
		for _, c := range sel.Categories {
			if !slices.Contains(r.Details.Categories, c) {
				refusal = errcode.Field("categories", "the request did not ask to erase %q", truncate(c, 64))
				break
			}
		}
	}
	if refusal != nil {
		return r, ErasureInput{}, e.refused(ctx, a, "erasure.execute", e.targets.AuditTarget("subject", r.SubjectID), refusal)
	}
	in.All, in.Categories = sel.All, sel.Categories
	return r, in, nil
}
