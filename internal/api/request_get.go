package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

func (s *Server) requestGet(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !dsr.ValidRequestID(id) {
		return errcode.E(errcode.NotFound, "no such request")
	}
	req, err := s.Requests.Get(r.Context(), id)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, req)
	return nil
}
