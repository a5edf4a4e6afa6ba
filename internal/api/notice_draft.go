package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

// draftInput is the body of POST /notices/{slug}/versions.
type draftInput struct {
	Body string `json:"body"`
	// EffectiveAt is an RFC 3339 date-time or a plain date; a string here
	// rather than time.Time so a bad value is reported on its field.
	EffectiveAt string `json:"effective_at"`
	Summary     string `json:"summary"`
	Material    bool   `json:"material"`
}

// parseEffective reads an RFC 3339 date-time ("2026-06-01T00:00:00Z") or
// full date ("2026-06-01", midnight UTC): notices take effect on a day,
// and operators write days.
func parseEffective(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, errcode.Field("effective_at", "the effective date is an RFC 3339 date-time or a date such as 2026-06-01")
}

// noticeDraft adds an unpublished version to a notice. Publishing it
// (POST …/publish) makes it current; a material one then asks everyone to
// accept it again.
func (s *Server) noticeDraft(w http.ResponseWriter, r *http.Request) error {
	var in draftInput
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	eff, err := parseEffective(in.EffectiveAt)
	if err != nil {
		return err
	}
	slug := r.PathValue("slug")
	v, err := s.Consent.DraftNotice(r.Context(), consentActor(r), slug, consent.Draft{
		Body: in.Body, EffectiveAt: eff, Summary: in.Summary, Material: in.Material,
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/notices/"+slug+"/versions/"+strconv.Itoa(v.Version))
	web.WriteJSON(w, http.StatusCreated, v)
	return nil
}
