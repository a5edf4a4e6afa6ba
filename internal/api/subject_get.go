package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/web"
)

func (s *Server) subjectGet(w http.ResponseWriter, r *http.Request) error {
	subj, err := s.Vault.Get(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, subj)
	return nil
}
