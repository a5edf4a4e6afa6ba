// Package ui renders gdprd's server-side pages: html/template templates and
// static files (a small hand-written stylesheet, the vendored htmx) embedded
// in the binary, so one file is the whole product and no page depends on a
// CDN.
//
// Pages work without JavaScript; htmx is loaded for later progressive
// enhancement only. Static files are served under content-hashed names (see
// StaticPrefix), which is what lets them be cached forever and lets the
// Content-Security-Policy stay at script-src 'self' with no inline code.
//
// The language of a page comes from ?lang= when it names a supported
// language (the visible switch uses it, so a choice needs no cookie), and
// otherwise from Accept-Language.
package ui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/gdprd/gdprd/internal/i18n"
)

//go:embed templates
var templateFiles embed.FS

//go:embed static/*.css static/*.js static/*.svg
var staticFiles embed.FS

// Options configure a UI.
type Options struct {
	// Catalog holds the messages; nil loads the embedded catalogs.
	Catalog *i18n.Catalog
	// Organisation is the name in the page header: the people reading a
	// privacy policy want to see whose it is. Empty shows a neutral site
	// name instead.
	Organisation string
}

// UI renders pages and serves static files. It is read-only after New, so
// one UI serves all goroutines.
type UI struct {
	cat    *i18n.Catalog
	org    string
	assets *Assets
	pages  map[string]*template.Template
}

// New parses the embedded templates and hashes the static files.
func New(o Options) (*UI, error) {
	u := &UI{cat: o.Catalog, org: strings.TrimSpace(o.Organisation), pages: map[string]*template.Template{}}
	if u.cat == nil {
		c, err := i18n.New()
		if err != nil {
			return nil, err
		}
		u.cat = c
	}
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	if u.assets, err = newAssets(static); err != nil {
		return nil, err
	}
	funcs := template.FuncMap{"asset": u.assets.URL}
	err = fs.WalkDir(templateFiles, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "templates/layout.html" || strings.HasSuffix(p, ".partial.html") {
			return err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		// Files named *.partial.html are shared by the pages of their
		// directory (the console's navigation). (go:embed leaves out
		// files whose names start with "_".)
		files := []string{"templates/layout.html", p}
		partials, err := fs.Glob(templateFiles, path.Dir(p)+"/*.partial.html")
		if err != nil {
			return err
		}
		files = append(files, partials...)
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFiles, files...)
		if err != nil {
			return fmt.Errorf("ui: template %s: %w", name, err)
		}
		u.pages[name] = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// MustNew is New for wiring code: the templates and files are embedded, so
// an error is a bug in this package that its tests catch, not a condition
// to handle at run time.
func MustNew(o Options) *UI {
	u, err := New(o)
	if err != nil {
		panic(err)
	}
	return u
}

// Catalog returns the message catalogs pages are translated with.
func (u *UI) Catalog() *i18n.Catalog { return u.cat }

// Static serves the content-hashed static files below StaticPrefix.
func (u *UI) Static() http.Handler { return u.assets }

// AssetURL returns the content-hashed URL of a static file.
func (u *UI) AssetURL(name string) (string, error) { return u.assets.URL(name) }

// LanguageLink is one entry of the language switch.
type LanguageLink struct {
	Tag, Name, Href string
	Current         bool
}

// Page is what the layout needs, plus the page's own data in Main.
type Page struct {
	L         *i18n.Localizer
	Title     string // the page's own title, before the site name in <title>
	Org       string // the organisation, or the site name when none is set
	Site      string // the site name
	Languages []LanguageLink
	Main      any
	// Scripts are static files (names below StaticPrefix) the page loads
	// besides htmx, each deferred: no inline script.
	Scripts []string
	// explicit is true when the language came from ?lang=, which links
	// must then carry on (there is no cookie to remember it).
	explicit bool
}

// NewPage starts a page for r in the language r asks for.
func (u *UI) NewPage(r *http.Request) *Page {
	tag, explicit := u.Language(r)
	l := u.cat.Localizer(tag)
	p := &Page{L: l, Org: u.org, Site: l.T("site.name"), explicit: explicit}
	if p.Org == "" {
		p.Org = p.Site
	}
	for _, lang := range u.cat.Languages() {
		href := (&url.URL{Path: r.URL.Path, RawQuery: "lang=" + lang.Tag}).String()
		p.Languages = append(p.Languages, LanguageLink{Tag: lang.Tag, Name: lang.Name, Href: href, Current: lang.Tag == tag})
	}
	return p
}

// Language returns the language of a request and whether the request chose
// it explicitly with ?lang=.
func (u *UI) Language(r *http.Request) (tag string, explicit bool) {
	if q := r.URL.Query().Get("lang"); u.cat.Supported(q) {
		return q, true
	}
	return u.cat.Negotiate(r.Header.Get("Accept-Language")), false
}

// Href returns a link to path that keeps the page's language when it was
// chosen with the switch.
func (p *Page) Href(path string) string {
	if !p.explicit {
		return path
	}
	return path + "?lang=" + p.L.Tag()
}

// Render writes page name with status. The page is rendered into a buffer
// first, so a template error becomes a clean 500, never half a page.
func (u *UI) Render(w http.ResponseWriter, status int, name string, p *Page) error {
	t, ok := u.pages[name]
	if !ok {
		return fmt.Errorf("ui: no page template %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("ui: render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", p.L.Tag())
	h.Add("Vary", "Accept-Language")
	w.WriteHeader(status)
	buf.WriteTo(w)
	return nil
}

// errorPage is the Main of the error template.
type errorPage struct {
	Status      int
	Heading     string
	Text        string
	Back, BackL string
}

// RenderError answers with a translated error page for status 400, 404 or
// 500 (any other status gets the 500 text). It never reveals why beyond
// the status: the log has the details.
func (u *UI) RenderError(w http.ResponseWriter, r *http.Request, status int) {
	p := u.NewPage(r)
	key := "error.500"
	switch status {
	case http.StatusBadRequest:
		key = "error.400"
	case http.StatusNotFound:
		key = "error.404"
	}
	p.Title = p.L.T(key + ".title")
	p.Main = errorPage{Status: status, Heading: p.Title, Text: p.L.T(key + ".text"),
		Back: p.Href("/policies/"), BackL: p.L.T("error.back")}
	if err := u.Render(w, status, "error", p); err != nil {
		http.Error(w, http.StatusText(status), status)
	}
}
