package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/auth"
)

// staffRole changes a member's role; their sessions end, so the change
// applies at once. It needs a fresh second factor.
func (s *Server) staffRole(w http.ResponseWriter, r *http.Request, q *request) error {
	role, err := auth.ParseRole(r.PostFormValue("role"))
	if err != nil {
		return err
	}
	if err := s.staff.SetRole(r.Context(), r.PathValue("id"), role, q.actor()); err != nil {
		return err
	}
	s.redirect(w, r, Prefix+"staff")
	return nil
}
