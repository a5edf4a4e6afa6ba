package api

import (
	"net/http"
)

func (s *Server) dataGet(w http.ResponseWriter, r *http.Request) error {
	d, err := s.Vault.GetData(r.Context(), actor(r), r.PathValue("id"), r.PathValue("category"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(d, '\n'))
	return nil
}
