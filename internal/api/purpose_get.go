package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/web"
)

// purposeGet answers one purpose with its ETag, which a later PATCH must
// send back in If-Match.
func (s *Server) purposeGet(w http.ResponseWriter, r *http.Request) error {
	p, err := s.Consent.Purpose(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", purposeETag(p))
	web.WriteJSON(w, http.StatusOK, p)
	return nil
}
