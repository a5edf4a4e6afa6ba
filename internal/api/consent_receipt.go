package api

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

// consentReceipt answers the signed receipt of the subject's latest
// grant, withdrawal or objection for a purpose, for the host application
// to hand to the person (the portal offers the same as a download).
func (s *Server) consentReceipt(w http.ResponseWriter, r *http.Request) error {
	if s.ConsentReceipts == nil {
		return errcode.E(errcode.NotFound, "consent receipts are not configured on this server")
	}
	rec, err := s.ConsentReceipts.Latest(r.Context(), r.PathValue("id"), r.PathValue("purpose"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, rec)
	return nil
}
