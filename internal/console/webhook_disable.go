package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/errcode"
)

// webhookDisable stops new messages to an endpoint (audited by the
// webhook service).
func (s *Server) webhookDisable(w http.ResponseWriter, r *http.Request, q *request) error {
	if s.webhooks == nil {
		return errcode.E(errcode.NotFound, "webhooks are not served here")
	}
	if err := s.webhooks.DisableEndpoint(r.Context(), r.PathValue("id"), q.actor()); err != nil {
		return err
	}
	s.redirect(w, r, Prefix+"webhooks")
	return nil
}
