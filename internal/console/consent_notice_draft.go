package console

import (
	"net/http"
	"time"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
)

// noticeDraft adds a draft version (Markdown, effective date, change
// summary, material-change flag). The register checks it and audits it.
func (s *Server) noticeDraft(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.needConsent(); err != nil {
		return err
	}
	f := r.PostForm
	p := noticePage{Body: f.Get("body"), Effective: f.Get("effective"), Summary: f.Get("summary"), Material: f.Get("material") != ""}
	d := consent.Draft{Body: p.Body, Summary: p.Summary, Material: p.Material}
	var err error
	if d.EffectiveAt, err = time.ParseInLocation("2006-01-02", p.Effective, time.UTC); err != nil {
		err = errcode.Field("effective_at", "an effective date")
	} else {
		_, err = s.consent.DraftNotice(r.Context(), q.consentActor(), r.PathValue("slug"), d)
	}
	if ce, ok := errcode.As(err); ok && ce.Code == errcode.Invalid {
		p.Error = q.page.L.T("console.notice.err.invalid")
		return s.showNotice(w, r, q, http.StatusBadRequest, p)
	}
	if err != nil {
		return err
	}
	s.redirect(w, r, Prefix+"consent/notices/"+r.PathValue("slug"))
	return nil
}
