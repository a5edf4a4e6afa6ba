package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

// visitorLink links an anonymous consent-widget visitor to a subject when
// the person signs in to the host application: the visitor's latest choice
// per purpose becomes a consent record of the subject (channel widget).
// The host reads the token from window.gdprdConsent.visitor() in the page.
func (s *Server) visitorLink(w http.ResponseWriter, r *http.Request) error {
	if s.Widget == nil {
		return errcode.E(errcode.NotFound, "the consent widget is not enabled")
	}
	var in struct {
		Visitor string `json:"visitor"`
	}
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Visitor == "" {
		return errcode.Field("visitor", "give the visitor token from window.gdprdConsent.visitor()")
	}
	res, err := s.Widget.Link(r.Context(), consentActor(r), r.PathValue("id"), in.Visitor)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, res)
	return nil
}
