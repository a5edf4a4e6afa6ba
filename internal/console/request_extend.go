package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
)

// requestExtend applies the one Art. 12(3) extension, with its reason.
// dsr refuses a second one and one after the legal deadline (changing
// nothing, audited).
func (s *Server) requestExtend(w http.ResponseWriter, r *http.Request, q *request) error {
	if s.requests == nil || !dsr.ValidRequestID(r.PathValue("id")) {
		return errcode.E(errcode.NotFound, "no such request")
	}
	_, err := s.requests.Extend(r.Context(), q.dsrActor(), r.PathValue("id"),
		dsr.Reason{Code: dsr.ReasonCode(r.PostFormValue("code")), Text: r.PostFormValue("text")})
	return s.afterAction(w, r, q, err)
}
