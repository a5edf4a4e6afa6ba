package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/web"
)

// subjectErase erases a subject and answers with the erasure receipt; the webhook
// endpoints are told (Art. 19).
func (s *Server) subjectErase(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.Vault.Erase(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.propagate(r.Context(), rec); err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, rec)
	return nil
}
