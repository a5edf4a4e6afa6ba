// Package policies publishes the organisation's notices (Privacy Policy,
// Terms of Use, Cookie Policy, Data Handling Policy and any other) as
// public web pages, with their full history, so anyone can read what
// applies now, what applied on any earlier date, and what changed:
//
//	GET /policies/                       the list of published notices
//	GET /policies/{slug}                 the current version
//	GET /policies/{slug}/v/{n}           any published version
//	GET /policies/{slug}/diff/{a}..{b}   a line-by-line comparison
//
// Only published versions exist here: a draft answers 404 exactly like a
// version that was never written, so drafts cannot be discovered.
//
// The surface has its own mux and the browser middleware chain; it is
// read-only, uses no cookie and no JavaScript. One file per action.
package policies

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/i18n"
	"github.com/gdprd/gdprd/internal/ui"
	"github.com/gdprd/gdprd/internal/web"
)

// Prefix is where the notices are published.
const Prefix = "/policies/"

// Store is what the pages read of the consent register;
// *consent.Register satisfies it.
type Store interface {
	Notices(ctx context.Context) ([]consent.Notice, error)
	CurrentNotice(ctx context.Context, notice string) (consent.NoticeVersion, error)
	NoticeVersions(ctx context.Context, notice string) ([]consent.NoticeVersion, error)
}

// Options configure a Server.
type Options struct {
	Notices Store
	UI      *ui.UI // nil: ui.MustNew with no organisation name
	Log     *slog.Logger
}

// Server serves the /policies pages.
type Server struct {
	store Store
	ui    *ui.UI
	log   *slog.Logger
	md    *markdown
}

// New returns a Server.
func New(o Options) *Server {
	s := &Server{store: o.Notices, ui: o.UI, log: o.Log, md: newMarkdown()}
	if s.ui == nil {
		s.ui = ui.MustNew(ui.Options{})
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Handler returns the surface's mux behind the browser middleware chain.
// Mount it at Prefix.
func (s *Server) Handler(m *web.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+Prefix+"{$}", s.action(s.index))
	mux.Handle("GET "+Prefix+"{slug}", s.action(s.current))
	mux.Handle("GET "+Prefix+"{slug}/v/{version}", s.action(s.version))
	mux.Handle("GET "+Prefix+"{slug}/diff/{range}", s.action(s.diff))
	mux.Handle("GET "+Prefix, s.action(func(w http.ResponseWriter, r *http.Request) error {
		return errcode.E(errcode.NotFound, "no such page")
	}))
	return web.Browser(s.log, m)(mux)
}

// action runs a handler and answers its error with a translated error page.
// The page says only "not valid", "not found" or "went wrong"; details go
// to the log for server errors.
func (s *Server) action(fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		if err == nil {
			return
		}
		status := web.Status(err)
		if status != http.StatusBadRequest && status != http.StatusNotFound {
			s.log.ErrorContext(r.Context(), "policy page failed", "request_id", web.RequestID(r.Context()), "err", err)
			status = http.StatusInternalServerError
		}
		s.ui.RenderError(w, r, status)
	})
}

// render writes a page, logging a template failure (a bug) as a 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, p *ui.Page) error {
	if err := s.ui.Render(w, http.StatusOK, name, p); err != nil {
		return errcode.Wrap(err, errcode.Internal, "render %s", name)
	}
	return nil
}

// parseVersion reads a version number from a URL. Only the canonical form
// is accepted ("2", not "02" or "+2"), so each version has one address.
func parseVersion(s string) (int, error) {
	if len(s) == 0 || len(s) > 9 || s[0] == '0' {
		return 0, errcode.E(errcode.Invalid, "a version is a whole number from 1")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errcode.E(errcode.Invalid, "a version is a whole number from 1")
		}
	}
	return strconv.Atoi(s)
}

// notice is a notice with its published versions, oldest first.
type notice struct {
	slug, title string
	versions    []consent.NoticeVersion
}

// loadNotice reads a notice and its published versions. A notice with none
// is not found: it is not public yet.
func (s *Server) loadNotice(ctx context.Context, slug string) (notice, error) {
	all, err := s.store.Notices(ctx)
	if err != nil {
		return notice{}, err
	}
	n := notice{slug: slug}
	found := false
	for _, x := range all {
		if x.Slug == slug {
			n.title, found = x.Title, true
		}
	}
	if !found {
		return notice{}, errcode.E(errcode.NotFound, "no notice %q", slug)
	}
	vs, err := s.store.NoticeVersions(ctx, slug)
	if err != nil {
		return notice{}, err
	}
	for _, v := range vs {
		if v.PublishedAt != nil {
			n.versions = append(n.versions, v)
		}
	}
	if len(n.versions) == 0 {
		return notice{}, errcode.E(errcode.NotFound, "notice %q has no published version", slug)
	}
	slices.SortFunc(n.versions, func(a, b consent.NoticeVersion) int { return a.Version - b.Version })
	return n, nil
}

// find returns the published version number n, or NotFound: drafts and
// unknown versions look the same from outside.
func (n notice) find(version int) (consent.NoticeVersion, error) {
	for _, v := range n.versions {
		if v.Version == version {
			return v, nil
		}
	}
	return consent.NoticeVersion{}, errcode.E(errcode.NotFound, "no published version %d of %q", version, n.slug)
}

// previous returns the published version before number n, 0 if none.
func (n notice) previous(version int) int {
	prev := 0
	for _, v := range n.versions {
		if v.Version < version {
			prev = v.Version
		}
	}
	return prev
}

// title translates the seeded notice titles ("Privacy Policy") while they
// are unchanged; a title the operator wrote is shown as written, since
// only the operator knows its translation.
func title(cat *i18n.Catalog, l *i18n.Localizer, slug, stored string) string {
	key := "notice." + slug
	if en, ok := cat.Localizer(i18n.Default).Lookup(key); ok && en == stored {
		return l.T(key)
	}
	return stored
}

// versionView is one version as the templates show it.
type versionView struct {
	Number                  int
	Href                    string
	Effective, EffectiveISO string
	Published, PublishedISO string
	Summary                 string
	Material                bool
	Current                 bool // the notice's current version
	Selected                bool // the version this page shows
	Previous                int  // the published version before it, 0 if none
	CompareHref             string
}

func (s *Server) versionView(p *ui.Page, n notice, v consent.NoticeVersion) versionView {
	cur := n.versions[len(n.versions)-1].Version
	vv := versionView{
		Number: v.Version, Href: p.Href(Prefix + n.slug + "/v/" + strconv.Itoa(v.Version)),
		Effective: p.L.Date(v.EffectiveAt), EffectiveISO: isoDate(v.EffectiveAt),
		Summary: v.Summary, Material: v.Material, Current: v.Version == cur,
		Previous: n.previous(v.Version),
	}
	if v.PublishedAt != nil {
		vv.Published, vv.PublishedISO = p.L.Date(*v.PublishedAt), isoDate(*v.PublishedAt)
	}
	if vv.Previous > 0 {
		vv.CompareHref = p.Href(Prefix + n.slug + "/diff/" + strconv.Itoa(vv.Previous) + ".." + strconv.Itoa(v.Version))
	}
	return vv
}

func isoDate(t time.Time) string { return t.UTC().Format(time.DateOnly) }
