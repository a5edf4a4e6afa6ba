package console

import (
	"net/http"
)

type noticeRow struct {
	Slug, Title string
	Current     int
}

type noticesPage struct {
	Nav  nav
	Rows []noticeRow
}

// noticeList shows the notices and their current versions.
func (s *Server) noticeList(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.needConsent(); err != nil {
		return err
	}
	list, err := s.consent.Notices(r.Context())
	if err != nil {
		return err
	}
	p := noticesPage{Nav: q.nav("consent")}
	for _, n := range list {
		p.Rows = append(p.Rows, noticeRow{Slug: n.Slug, Title: n.Title, Current: n.Current})
	}
	return s.render(w, http.StatusOK, "notices", q, q.page.L.T("console.notices.title"), p)
}
