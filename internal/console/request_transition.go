package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
)

// requestTransition moves a request on (approve, refuse, ask for identity,
// complete …) with a reason code and words. dsr enforces the lifecycle and
// that a refusal carries a code and its justification ("manifestly
// unfounded or excessive" included); a refused move changes nothing and
// is audited there.
func (s *Server) requestTransition(w http.ResponseWriter, r *http.Request, q *request) error {
	if s.requests == nil || !dsr.ValidRequestID(r.PathValue("id")) {
		return errcode.E(errcode.NotFound, "no such request")
	}
	_, err := s.requests.Transition(r.Context(), q.dsrActor(), r.PathValue("id"), dsr.State(r.PostFormValue("to")),
		dsr.Reason{Code: dsr.ReasonCode(r.PostFormValue("code")), Text: r.PostFormValue("text")})
	return s.afterAction(w, r, q, err)
}
