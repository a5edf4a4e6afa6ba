package policies

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/errcode"
)

// indexEntry is one notice on the index page.
type indexEntry struct {
	Title, Href        string
	Version            int
	Effective, Summary string
}

// index lists every notice that has a published version, with its current
// version and effective date.
func (s *Server) index(w http.ResponseWriter, r *http.Request) error {
	all, err := s.store.Notices(r.Context())
	if err != nil {
		return err
	}
	p := s.ui.NewPage(r)
	p.Title = p.L.T("index.title")
	var entries []indexEntry
	for _, n := range all {
		if n.Current == 0 {
			continue // nothing published: not public yet
		}
		v, err := s.store.CurrentNotice(r.Context(), n.Slug)
		if errcode.Of(err) == errcode.NotFound {
			continue
		}
		if err != nil {
			return err
		}
		entries = append(entries, indexEntry{
			Title: title(s.ui.Catalog(), p.L, n.Slug, n.Title), Href: p.Href(Prefix + n.Slug),
			Version: v.Version, Effective: p.L.Date(v.EffectiveAt), Summary: v.Summary,
		})
	}
	p.Main = struct{ Notices []indexEntry }{entries}
	return s.render(w, r, "policies/index", p)
}
