package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/web"
)

// dataErase erases one category of a subject's data (its key is shredded) and
// tells the webhook endpoints (Art. 19).
func (s *Server) dataErase(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.Vault.EraseCategory(r.Context(), actor(r), r.PathValue("id"), r.PathValue("category"))
	if err != nil {
		return err
	}
	if err := s.propagate(r.Context(), rec); err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, rec)
	return nil
}
