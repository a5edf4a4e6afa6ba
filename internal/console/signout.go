package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/web"
)

// signout ends this session.
func (s *Server) signout(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.sessions.End(r.Context(), q.sess); err != nil {
		return err
	}
	if err := s.staff.Audit(r.Context(), q.actor(), "staff.signout", q.member.ID, "ok"); err != nil {
		return err
	}
	web.ClearSessionCookie(w)
	s.redirect(w, r, Prefix+"signin")
	return nil
}
