package api

import (
	"encoding/json"
	"net/http"

	"github.com/gdprd/gdprd/internal/vault"
	"github.com/gdprd/gdprd/internal/web"
)

// subjectInput is the body of POST /subjects.
type subjectInput struct {
	ExternalID string                     `json:"external_id"`
	Email      string                     `json:"email"`
	Phone      string                     `json:"phone"`
	Data       map[string]json.RawMessage `json:"data"`
}

func (s *Server) subjectCreate(w http.ResponseWriter, r *http.Request) error {
	var in subjectInput
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	subj, err := s.Vault.Create(r.Context(), actor(r), vault.NewSubject{
		ExternalID: in.ExternalID, Email: in.Email, Phone: in.Phone, Data: in.Data,
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/subjects/"+subj.ID)
	web.WriteJSON(w, http.StatusCreated, subj)
	return nil
}
