package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/vault"
	"github.com/gdprd/gdprd/internal/web"
)

// categoryInput is the body of POST /categories.
type categoryInput struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// categoryCreate adds an operator-defined data category.
func (s *Server) categoryCreate(w http.ResponseWriter, r *http.Request) error {
	var in categoryInput
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	c := vault.Category{Name: in.Name, Description: in.Description}
	if err := s.Vault.AddCategory(r.Context(), actor(r), c); err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusCreated, c)
	return nil
}
