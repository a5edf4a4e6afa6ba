package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/web"
)

// noticeList answers every notice with its current version number (0
// while nothing is published).
func (s *Server) noticeList(w http.ResponseWriter, r *http.Request) error {
	ns, err := s.Consent.Notices(r.Context())
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"notices": ns})
	return nil
}
