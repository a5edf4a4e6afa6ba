package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/web"
)

// dataErase erases one category of a subject's data (its key is shredded).
func (s *Server) dataErase(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.Vault.EraseCategory(r.Context(), actor(r), r.PathValue("id"), r.PathValue("category"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, rec)
	return nil
}
