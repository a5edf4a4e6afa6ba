package portal

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/export"
	"github.com/gdprd/gdprd/internal/vault"
	"github.com/gdprd/gdprd/internal/web"
)

// download is "Request my data": the ZIP (one CSV per category, a JSON
// file of everything, a README) streams at once for the signed-in person,
// encrypted with age when they typed a passphrase. The exporter reads and
// audits everything before the first byte, so a refusal is still a page;
// an error mid-stream aborts the connection, so a truncated archive is
// never presented as complete.
func (s *Server) download(w http.ResponseWriter, r *http.Request, q *request) error {
	enc := export.Encryption{Passphrase: r.PostFormValue("passphrase")}
	pkg, err := s.exports.Prepare(r.Context(), vault.Actor{Name: q.actor()}, export.Request{
		SubjectID: q.subject(), Kind: export.Portability, Encryption: enc})
	if errcode.Of(err) == errcode.Invalid {
		return s.renderHome(w, r, q, http.StatusBadRequest, q.page.L.T("portal.export.passphrase.short"))
	}
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", pkg.ContentType())
	h.Set("Content-Disposition", `attachment; filename="`+pkg.Filename()+`"`)
	w.WriteHeader(http.StatusOK)
	if err := pkg.Stream(w); err != nil {
		s.log.ErrorContext(r.Context(), "portal export stream failed", "request_id", web.RequestID(r.Context()), "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}
