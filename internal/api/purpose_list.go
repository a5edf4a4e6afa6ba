package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/web"
)

// purposeList answers every purpose with its legal basis, so the host
// application can show the same choices the portal does.
func (s *Server) purposeList(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.Consent.Purposes(r.Context())
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"purposes": ps})
	return nil
}
