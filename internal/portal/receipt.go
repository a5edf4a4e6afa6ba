package portal

import (
	"encoding/json"
	"net/http"

	"github.com/gdprd/gdprd/internal/errcode"
)

// receipt downloads the signed consent receipt (JWS, Ed25519, key at
// /.well-known/jwks.json) of one of the person's own grant, withdrawal or
// objection records. The record is looked up with the session's subject,
// so another person's record id answers 404.
func (s *Server) receipt(w http.ResponseWriter, r *http.Request, q *request) error {
	id := r.PathValue("record")
	rc, err := s.receipts.ForRecord(r.Context(), q.subject(), id)
	if err != nil {
		return err
	}
	if err := s.auditSubject(r.Context(), q.subject(), "consent.receipt.download", "consent", "ok"); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		return errcode.Wrap(err, errcode.Internal, "encode receipt")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Disposition", `attachment; filename="consent-receipt-`+id+`.json"`)
	w.Write(append(b, '\n'))
	return nil
}
