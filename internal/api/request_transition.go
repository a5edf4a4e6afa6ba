package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

// transitionInput is the body of POST /requests/{id}/transitions.
type transitionInput struct {
	To dsr.State `json:"to"`
	// Reason is optional text; the code is always withdrawn-by-subject.
	Reason string `json:"reason"`
}

// requestTransition answers POST /requests/{id}/transitions. The host
// application acts on the person's behalf, and a person can only withdraw
// a request: deciding it (in progress, completed, refused…) is staff work
// in the console, so any other target state is refused.
func (s *Server) requestTransition(w http.ResponseWriter, r *http.Request) error {
	var in transitionInput
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.To != dsr.Withdrawn {
		return &errcode.Error{Code: errcode.Forbidden, Field: "to",
			Message: "through the API a request can only be withdrawn on the person's behalf (to: withdrawn); staff decide requests in the console"}
	}
	id := r.PathValue("id")
	if !dsr.ValidRequestID(id) {
		return errcode.E(errcode.NotFound, "no such request")
	}
	req, err := s.Requests.Transition(r.Context(), dsrActor(r), id, dsr.Withdrawn,
		dsr.Reason{Code: dsr.WithdrawnBySubject, Text: in.Reason})
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, req)
	return nil
}
