package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

// purposePatch changes some fields of a purpose: each field given replaces
// the stored value (names and descriptions as whole maps), each field left
// out keeps it. Pointers tell "left out" from "set to false or empty".
type purposePatch struct {
	Names             *map[string]string     `json:"names"`
	Descriptions      *map[string]string     `json:"descriptions"`
	Basis             *consent.LegalBasis    `json:"legal_basis"`
	SpecialCategories *bool                  `json:"special_categories"`
	Art9Condition     *consent.Art9Condition `json:"art9_condition"`
	Categories        *[]string              `json:"categories"`
	Necessary         *bool                  `json:"necessary"`
	DirectMarketing   *bool                  `json:"direct_marketing"`
	Retention         *string                `json:"retention"`
	Notice            *string                `json:"notice"`
}

// empty reports whether the patch changes nothing.
func (p purposePatch) empty() bool {
	return p == purposePatch{}
}

// apply sets the fields p gives on a copy of cur.
func (p purposePatch) apply(cur consent.Purpose) consent.Purpose {
	if p.Names != nil {
		cur.Names = *p.Names
	}
	if p.Descriptions != nil {
		cur.Descriptions = *p.Descriptions
	}
	if p.Basis != nil {
		cur.Basis = *p.Basis
	}
	if p.SpecialCategories != nil {
		cur.SpecialCategories = *p.SpecialCategories
	}
	if p.Art9Condition != nil {
		cur.Art9Condition = *p.Art9Condition
	}
	if p.Categories != nil {
		cur.Categories = *p.Categories
	}
	if p.Necessary != nil {
		cur.Necessary = *p.Necessary
	}
	if p.DirectMarketing != nil {
		cur.DirectMarketing = *p.DirectMarketing
	}
	if p.Retention != nil {
		cur.Retention = *p.Retention
	}
	if p.Notice != nil {
		cur.Notice = *p.Notice
	}
	return cur
}

// purposeUpdate changes a purpose under optimistic concurrency: If-Match
// must carry the ETag of the version the client read. The handler merges
// the patch onto the purpose as it reads it now and hands the register the
// client's updated_at, which the register compares inside its write
// transaction. If the stored purpose still has that updated_at, nothing
// changed since the client's read, so the merge base was current too;
// otherwise the update is refused as a conflict.
func (s *Server) purposeUpdate(w http.ResponseWriter, r *http.Request) error {
	var in purposePatch
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.empty() {
		return errcode.E(errcode.Invalid, "nothing to change: give at least one field of the purpose")
	}
	read, err := ifMatch(r)
	if err != nil {
		return err
	}
	cur, err := s.Consent.Purpose(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	next := in.apply(cur)
	next.UpdatedAt = read
	p, err := s.Consent.UpdatePurpose(r.Context(), consentActor(r), next)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", purposeETag(p))
	web.WriteJSON(w, http.StatusOK, p)
	return nil
}
