package console

import (
	"net/http"
	"strconv"

	"github.com/gdprd/gdprd/internal/consent"
)

type purposeFormPage struct {
	Nav                            nav
	Slug, Basis                    string
	NameEN, NameDE, DescEN, DescDE string
	Retention                      string
	UpdatedAt                      string // the lost-update guard
	Error                          string
}

func purposeFormData(q *request, p consent.Purpose) purposeFormPage {
	return purposeFormPage{Nav: q.nav("consent"), Slug: p.Slug, Basis: string(p.Basis),
		NameEN: p.Names["en"], NameDE: p.Names["de"], DescEN: p.Descriptions["en"], DescDE: p.Descriptions["de"],
		Retention: p.Retention, UpdatedAt: strconv.FormatInt(p.UpdatedAt.UnixMicro(), 10)}
}

// purposeForm edits a purpose's names, descriptions and retention.
func (s *Server) purposeForm(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.needConsent(); err != nil {
		return err
	}
	p, err := s.consent.Purpose(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	return s.render(w, http.StatusOK, "purpose", q, q.page.L.T("console.purpose.title", p.Slug), purposeFormData(q, p))
}
