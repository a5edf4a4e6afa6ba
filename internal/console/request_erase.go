package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
)

// requestErase carries out an erasure request that is in progress: dsr
// applies the holds and approvals of the operator's policy, erases what
// may go now, signs the receipt and moves the request to completed, or to
// awaiting approval while a category waits for a decision. The erasure's
// page shows the result.
func (s *Server) requestErase(w http.ResponseWriter, r *http.Request, q *request) error {
	if s.requests == nil || s.eraser == nil || !dsr.ValidRequestID(r.PathValue("id")) {
		return errcode.E(errcode.NotFound, "no such request")
	}
	res, _, err := s.eraser.ExecuteRequest(r.Context(), s.requests, q.dsrActor(), r.PathValue("id"), nil)
	if err != nil {
		return s.afterAction(w, r, q, err)
	}
	s.redirect(w, r, Prefix+"erasures/"+res.ID)
	return nil
}
