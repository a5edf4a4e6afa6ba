package api

import (
	"encoding/json"
	"net/http"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/vault"
	"github.com/gdprd/gdprd/internal/web"
)

// patchInput is a rectification: identifiers to change ("" removes one)
// and category data merged field by field (RFC 7396).
type patchInput struct {
	ExternalID *string                    `json:"external_id"`
	Email      *string                    `json:"email"`
	Phone      *string                    `json:"phone"`
	Data       map[string]json.RawMessage `json:"data"`
}

func (s *Server) subjectUpdate(w http.ResponseWriter, r *http.Request) error {
	var in patchInput
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.ExternalID == nil && in.Email == nil && in.Phone == nil && len(in.Data) == 0 {
		return errcode.E(errcode.Invalid, "nothing to change: give external_id, email, phone or data")
	}
	subj, err := s.Vault.Update(r.Context(), actor(r), r.PathValue("id"), vault.Patch{
		ExternalID: in.ExternalID, Email: in.Email, Phone: in.Phone, Data: in.Data,
	})
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, subj)
	return nil
}
