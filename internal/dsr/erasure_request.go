package dsr

import (
	"context"

	"github.com/gdprd/gdprd/internal/errcode"
)

// ExecuteRequest carries out an erasure request that is in progress: it
// erases the categories the request names (or the whole account), with
// the holds and approvals of the policy, links the erasure to the request,
// and moves the request to completed, or to awaiting_approval while a
// category waits for a staff approval. It returns the erasure and the
// request as it now stands. A request of another kind, one not in
// progress, or one without an established subject is refused before
// anything is erased. The request API that calls it is not part of this
// package.
func (e *Eraser) ExecuteRequest(ctx context.Context, svc *Service, a Actor, requestID string, recipients []string) (ErasureResult, Request, error) {
	r, err := svc.Get(ctx, requestID)
	if err != nil {
		return ErasureResult{}, Request{}, err
	}
	switch {
	case r.Kind != Erasure:
		return ErasureResult{}, r, errcode.Field("kind", "request %s asks for %s, not erasure", r.ID, r.Kind)
	case r.State != InProgress:
		return ErasureResult{}, r, errcode.E(errcode.Conflict, "an erasure request is carried out while in progress, not %s", r.State)
	case r.SubjectID == "":
		return ErasureResult{}, r, errcode.E(errcode.Conflict, "the person's identity is not established")
	}
	res, err := e.Execute(ctx, a, ErasureInput{SubjectID: r.SubjectID, RequestID: r.ID, All: r.Details.All,
		Categories: r.Details.Categories, Recipients: recipients})
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
