package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/vault"
	"github.com/gdprd/gdprd/internal/web"
)

// lookupInput names exactly one identifier. Identifiers travel in the body,
// never in the URL, so they stay out of access logs and browser history.
type lookupInput struct {
	ExternalID string `json:"external_id"`
	Email      string `json:"email"`
	Phone      string `json:"phone"`
}

func (s *Server) subjectLookup(w http.ResponseWriter, r *http.Request) error {
	var in lookupInput
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	var kind, value string
	n := 0
	for _, kv := range [][2]string{{vault.KindExternalID, in.ExternalID}, {vault.KindEmail, in.Email}, {vault.KindPhone, in.Phone}} {
		if kv[1] != "" {
			kind, value = kv[0], kv[1]
			n++
		}
	}
	if n != 1 {
		return errcode.E(errcode.Invalid, "name exactly one of external_id, email or phone")
	}
	subj, err := s.Vault.Lookup(r.Context(), actor(r), kind, value)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, subj)
	return nil
}
