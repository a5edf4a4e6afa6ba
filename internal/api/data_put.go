package api

import (
	"encoding/json"
	"net/http"

	"github.com/gdprd/gdprd/internal/web"
)

// dataPut replaces one category of a subject's data with the JSON object
// in the body.
func (s *Server) dataPut(w http.ResponseWriter, r *http.Request) error {
	var in json.RawMessage
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.Vault.PutData(r.Context(), actor(r), r.PathValue("id"), r.PathValue("category"), in); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
