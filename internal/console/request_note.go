package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
)

// requestNote adds an internal note, sealed by dsr with the subject's key.
func (s *Server) requestNote(w http.ResponseWriter, r *http.Request, q *request) error {
	if s.requests == nil || !dsr.ValidRequestID(r.PathValue("id")) {
		return errcode.E(errcode.NotFound, "no such request")
	}
	_, err := s.requests.AddNote(r.Context(), q.dsrActor(), r.PathValue("id"), r.PostFormValue("text"))
	return s.afterAction(w, r, q, err)
}
