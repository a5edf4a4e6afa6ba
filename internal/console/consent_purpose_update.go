package console

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
)

// purposeUpdate saves a purpose's names, descriptions and retention; the
// legal basis and the rest are kept. The register audits the change and
// refuses an edit of a purpose changed meanwhile.
func (s *Server) purposeUpdate(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.needConsent(); err != nil {
		return err
	}
	p, err := s.consent.Purpose(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	f := r.PostForm
	p.Names = map[string]string{"en": f.Get("name_en"), "de": f.Get("name_de")}
	p.Descriptions = map[string]string{"en": f.Get("desc_en"), "de": f.Get("desc_de")}
	if p.Names["de"] == "" {
		delete(p.Names, "de")
	}
	if p.Descriptions["de"] == "" {
		delete(p.Descriptions, "de")
	}
	p.Retention = f.Get("retention")
	micros, perr := strconv.ParseInt(f.Get("updated_at"), 10, 64)
	if perr != nil {
		return errcode.Field("updated_at", "missing")
	}
	p.UpdatedAt = time.UnixMicro(micros).UTC()
	_, err = s.consent.UpdatePurpose(r.Context(), q.consentActor(), p)
	if ce, ok := errcode.As(err); ok && (ce.Code == errcode.Invalid || ce.Code == errcode.Conflict) {
		d := purposeFormData(q, p)
		d.UpdatedAt = f.Get("updated_at")
		d.Error = q.page.L.T("console.purpose.err." + string(ce.Code))
		return s.render(w, web400or409(ce), "purpose", q, q.page.L.T("console.purpose.title", p.Slug), d)
	}
	if err != nil {
		return err
	}
	s.redirect(w, r, Prefix+"consent/purposes")
	return nil
}
