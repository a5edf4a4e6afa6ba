package console

import (
	"net/http"
	"time"
)

type figuresPage struct {
	Nav  nav
	Rows []figureRow
	From string
}

type figureRow struct {
	Month, Purpose                  string
	Grants, Withdrawals, Objections int
}

// consentFigures shows grants, withdrawals and objections per purpose per
// month over the last twelve months, as a plain table.
func (s *Server) consentFigures(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.needConsent(); err != nil {
		return err
	}
	now := s.now().UTC()
	from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -11, 0)
	figs, err := s.consent.Figures(r.Context(), from, now.Add(time.Second))
	if err != nil {
		return err
	}
	p := figuresPage{Nav: q.nav("consent"), From: from.Format("2006-01")}
	for _, f := range figs {
		p.Rows = append(p.Rows, figureRow{f.Month, f.Purpose, f.Grants, f.Withdrawals, f.Objections})
	}
	return s.render(w, http.StatusOK, "figures", q, q.page.L.T("console.figures.title"), p)
}
