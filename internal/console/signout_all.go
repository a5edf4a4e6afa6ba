package console

import (
	"net/http"
	"strconv"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/web"
)

// signoutEverywhere ends every session of the member, on every device.
func (s *Server) signoutEverywhere(w http.ResponseWriter, r *http.Request, q *request) error {
	n, err := s.sessions.EndAll(r.Context(), auth.SessionStaff, q.member.ID)
	if err != nil {
		return err
	}
	if err := s.staff.Audit(r.Context(), q.actor(), "staff.signout.everywhere", q.member.ID, "ok:"+strconv.FormatInt(n, 10)); err != nil {
		return err
	}
	web.ClearSessionCookie(w)
	s.redirect(w, r, Prefix+"signin")
	return nil
}
