package policies

import (
	"html/template"
	"net/http"
	"slices"

	"github.com/gdprd/gdprd/internal/consent"
)

// version shows any published version of a notice, so a person can read
// exactly the text they accepted.
func (s *Server) version(w http.ResponseWriter, r *http.Request) error {
	num, err := parseVersion(r.PathValue("version"))
	if err != nil {
		return err
	}
	n, err := s.loadNotice(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	v, err := n.find(num)
	if err != nil {
		return err
	}
	return s.showVersion(w, r, n, v)
}

// policyPage is the Main of the policy template.
type policyPage struct {
	Title         string
	Version       versionView
	Body          template.HTML
	SHA256        string
	IsCurrent     bool
	CurrentNumber int
	CurrentHref   string
	History       []versionView // newest first
}

// showVersion renders one version with its facts and the notice's history.
// The current and the version pages share it, so they cannot drift apart.
func (s *Server) showVersion(w http.ResponseWriter, r *http.Request, n notice, v consent.NoticeVersion) error {
	body, err := s.md.render(v.Body)
	if err != nil {
		return err
	}
	p := s.ui.NewPage(r)
	t := title(s.ui.Catalog(), p.L, n.slug, n.title)
	cur := n.versions[len(n.versions)-1].Version
	page := policyPage{
		Title: t, Version: s.versionView(p, n, v), Body: body, SHA256: v.SHA256,
		IsCurrent: v.Version == cur, CurrentNumber: cur, CurrentHref: p.Href(Prefix + n.slug),
	}
	for _, h := range slices.Backward(n.versions) {
		vv := s.versionView(p, n, h)
		vv.Selected = h.Version == v.Version
		page.History = append(page.History, vv)
	}
	p.Title = t
	if !page.IsCurrent {
		p.Title = t + " – " + p.L.T("policy.version", v.Version)
	}
	p.Main = page
	return s.render(w, r, "policies/policy", p)
}
