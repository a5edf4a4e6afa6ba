package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/web"
)

// consentCheck answers whether the subject's data may be processed for the
// purpose now: the host application asks before every newsletter, every
// analytics event. It reads the register's cached state (one indexed
// query) and is counted, not audited, so it never waits on a disk write;
// a grant or withdrawal is visible to the very next check.
func (s *Server) consentCheck(w http.ResponseWriter, r *http.Request) error {
	purpose := r.PathValue("purpose")
	d, err := s.Consent.Check(r.Context(), r.PathValue("id"), purpose)
	if err != nil {
		return err
	}
	s.ConsentMetrics.countCheck(caller(r).ID, purpose, d.Allowed)
	web.WriteJSON(w, http.StatusOK, d)
	return nil
}
