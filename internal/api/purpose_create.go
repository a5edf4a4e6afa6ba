package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/web"
)

// purposeInput is the body of POST /purposes. It is not consent.Purpose
// itself because the times are the register's to set: strict decoding
// then refuses a client that sends them.
type purposeInput struct {
	Slug              string                `json:"slug"`
	Names             map[string]string     `json:"names"`
	Descriptions      map[string]string     `json:"descriptions"`
	Basis             consent.LegalBasis    `json:"legal_basis"`
	SpecialCategories bool                  `json:"special_categories"`
	Art9Condition     consent.Art9Condition `json:"art9_condition"`
	Categories        []string              `json:"categories"`
	Necessary         bool                  `json:"necessary"`
	DirectMarketing   bool                  `json:"direct_marketing"`
	Retention         string                `json:"retention"`
	Notice            string                `json:"notice"`
}

// purposeCreate declares a purpose of processing. The register validates
// it (legal basis, Art. 9 condition, translations, retention) and audits
// the change.
func (s *Server) purposeCreate(w http.ResponseWriter, r *http.Request) error {
	var in purposeInput
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	p, err := s.Consent.CreatePurpose(r.Context(), consentActor(r), consent.Purpose{
		Slug: in.Slug, Names: in.Names, Descriptions: in.Descriptions, Basis: in.Basis,
		SpecialCategories: in.SpecialCategories, Art9Condition: in.Art9Condition, Categories: in.Categories,
		Necessary: in.Necessary, DirectMarketing: in.DirectMarketing, Retention: in.Retention, Notice: in.Notice,
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/purposes/"+p.Slug)
	w.Header().Set("ETag", purposeETag(p))
	web.WriteJSON(w, http.StatusCreated, p)
	return nil
}
