package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/web"
)

func (s *Server) categoryList(w http.ResponseWriter, r *http.Request) error {
	cats, err := s.Vault.Categories(r.Context())
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"categories": cats})
	return nil
}
