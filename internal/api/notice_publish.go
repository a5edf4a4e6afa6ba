package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/web"
)

// noticePublish publishes a draft, making it the notice's current version.
// The register refuses to publish twice or to publish an older draft over
// a newer current version (409).
func (s *Server) noticePublish(w http.ResponseWriter, r *http.Request) error {
	n, err := versionParam(r)
	if err != nil {
		return err
	}
	v, err := s.Consent.PublishNotice(r.Context(), consentActor(r), r.PathValue("slug"), n)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, v)
	return nil
}
