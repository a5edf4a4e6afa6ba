package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
)

// requestAssign gives a request to an enrolled member who may work on it
// (not an auditor), or takes it back when none is chosen.
func (s *Server) requestAssign(w http.ResponseWriter, r *http.Request, q *request) error {
	if s.requests == nil || !dsr.ValidRequestID(r.PathValue("id")) {
		return errcode.E(errcode.NotFound, "no such request")
	}
	to := ""
	if id := r.PostFormValue("staff"); id != "" {
		m, err := s.staff.Get(r.Context(), id)
		to = "-" // not a staff actor: dsr refuses it, and audits the refusal
		if err == nil && m.Enrolled && m.Role != auth.RoleAuditor {
			to = m.Actor()
		}
	}
	_, err := s.requests.Assign(r.Context(), q.dsrActor(), r.PathValue("id"), to)
	return s.afterAction(w, r, q, err)
}
