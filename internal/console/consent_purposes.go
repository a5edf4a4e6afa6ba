package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
)

type purposeRow struct {
	Slug, Name, Basis, Retention, Categories string
	Necessary, Marketing                     bool
}

type purposesPage struct {
	Nav  nav
	Rows []purposeRow
	Edit bool // the member may edit purposes
}

// consentActor is the member acting on the consent register.
func (q *request) consentActor() consent.Actor {
	return consent.Actor{Name: q.actor(), Purpose: "consent-management"}
}

// steward reports whether the member manages purposes and notices.
func (q *request) steward() bool {
	return q.member != nil && (q.member.Role == "owner" || q.member.Role == "dpo")
}

func (s *Server) needConsent() error {
	if s.consent == nil {
		return errcode.E(errcode.NotFound, "the consent register is not served here")
	}
	return nil
}

// purposeList shows every purpose with its legal basis and retention.
func (s *Server) purposeList(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.needConsent(); err != nil {
		return err
	}
	list, err := s.consent.Purposes(r.Context())
	if err != nil {
		return err
	}
	tag := q.page.L.Tag()
	p := purposesPage{Nav: q.nav("consent"), Edit: q.steward()}
	for _, pp := range list {
		name := pp.Names[tag]
		if name == "" {
			name = pp.Names["en"]
		}
		cats := ""
		for i, c := range pp.Categories {
			if i > 0 {
				cats += ", "
			}
			cats += c
		}
		p.Rows = append(p.Rows, purposeRow{Slug: pp.Slug, Name: name, Basis: string(pp.Basis), Retention: pp.Retention,
			Categories: cats, Necessary: pp.Necessary, Marketing: pp.DirectMarketing})
	}
	return s.render(w, http.StatusOK, "purposes", q, q.page.L.T("console.purposes.title"), p)
}
