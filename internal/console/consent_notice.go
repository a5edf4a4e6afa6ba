package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/errcode"
)

type versionRow struct {
	Version             int
	Effective, Summary  string
	Material, Published bool
	PublishedAt, SHA256 string
}

type noticePage struct {
	Nav      nav
	Slug     string
	Title    string
	Current  int
	Versions []versionRow
	Edit     bool
	// The draft form, echoed after a refusal.
	Body, Effective, Summary string
	Material                 bool
	Error                    string
}

// noticePage shows a notice's versions, with the draft and publish forms
// for owners and DPOs.
func (s *Server) noticePage(w http.ResponseWriter, r *http.Request, q *request) error {
	return s.showNotice(w, r, q, http.StatusOK, noticePage{})
}

func (s *Server) showNotice(w http.ResponseWriter, r *http.Request, q *request, status int, p noticePage) error {
	if err := s.needConsent(); err != nil {
		return err
	}
	slug := r.PathValue("slug")
	notices, err := s.consent.Notices(r.Context())
	if err != nil {
		return err
	}
	found := false
	for _, n := range notices {
		if n.Slug == slug {
			p.Slug, p.Title, p.Current, found = n.Slug, n.Title, n.Current, true
		}
	}
	if !found {
		return errcode.E(errcode.NotFound, "no such notice")
	}
	versions, err := s.consent.NoticeVersions(r.Context(), slug)
	if err != nil {
		return err
	}
	p.Nav, p.Edit = q.nav("consent"), q.steward()
	for i := len(versions) - 1; i >= 0; i-- {
		v := versions[i]
		row := versionRow{Version: v.Version, Effective: v.EffectiveAt.UTC().Format("2006-01-02"), Summary: v.Summary,
			Material: v.Material, Published: v.PublishedAt != nil, SHA256: v.SHA256}
		if v.PublishedAt != nil {
			row.PublishedAt = stamp(*v.PublishedAt)
		}
		p.Versions = append(p.Versions, row)
	}
	return s.render(w, status, "notice", q, q.page.L.T("console.notice.title", p.Title), p)
}
