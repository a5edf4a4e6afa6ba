package uitest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const csp = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// pages is a tiny site with one page per kind of problem, so each check of
// this package is shown to find what it looks for (and to pass a clean
// page).
func pages() http.Handler {
	head := `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>t</title><link rel="stylesheet" href="/s.css"></head><body><main><h1>Title</h1>`
	foot := `</main></body></html>`
	body := map[string]string{
		"/good":   `<p>Readable text.</p><p><a href="/good">A link</a></p>`,
		"/a11y":   `<img src="/s.css"><p><input type="text"></p>`,
		"/wide":   `<div class="wide">wide</div>`,
		"/inline": `<script>document.title = "ran"</script><p>x</p>`,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/s.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		io.WriteString(w, "body{font:16px sans-serif} .wide{width:1000px}")
	})
	mux.HandleFunc("/favicon.ico", http.NotFound)
	for path, b := range body {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", csp)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, head+b+foot)
		})
	}
	return mux
}

func TestChecksFindProblems(t *testing.T) {
	srv := httptest.NewServer(pages())
	t.Cleanup(srv.Close)
	b := NewBrowser(t)
	dir := t.TempDir()

	t.Run("clean page passes", func(t *testing.T) {
		tab := b.NewTab(t)
		if st := tab.Open(t, srv.URL+"/good"); st != 200 {
			t.Fatalf("status %d", st)
		}
		if v := tab.Axe(t, WCAG21AA()); len(v) != 0 {
			t.Errorf("axe: %v", v)
		}
		if v := tab.CSPViolations(t); len(v) != 0 {
			t.Errorf("CSP: %v", v)
		}
		tab.SetViewport(t, Phone())
		if sw, cw := tab.Overflow(t); sw > cw || cw != 375 {
			t.Errorf("phone: scroll width %d, client width %d; want 375 and no overflow", sw, cw)
		}
		tab.SetViewport(t, Zoom200())
		if _, cw := tab.Overflow(t); cw != 640 {
			t.Errorf("200%% zoom: client width %d, want 640", cw)
		}
		p := tab.Screenshot(t, dir, "good")
		png, err := os.ReadFile(p)
		if err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
			t.Errorf("screenshot %s is not a PNG (%v)", filepath.Base(p), err)
		}
	})
	t.Run("axe finds a missing alt and label", func(t *testing.T) {
		tab := b.NewTab(t)
		tab.Open(t, srv.URL+"/a11y")
		var ids []string
		for _, v := range tab.Axe(t, WCAG21AA()) {
			ids = append(ids, v.ID)
		}
		for _, want := range []string{"image-alt", "label"} {
			if !slices.Contains(ids, want) {
				t.Errorf("axe found %v, want %s among them", ids, want)
			}
		}
	})
	t.Run("overflow is measured", func(t *testing.T) {
		tab := b.NewTab(t)
		tab.Open(t, srv.URL+"/wide")
		tab.SetViewport(t, Phone())
		if sw, cw := tab.Overflow(t); sw <= cw {
			t.Errorf("a 1000 px box at 375 px: scroll width %d, client width %d; overflow not seen", sw, cw)
		}
	})
	t.Run("inline script is a CSP violation", func(t *testing.T) {
		tab := b.NewTab(t)
		tab.Open(t, srv.URL+"/inline")
		if v := tab.CSPViolations(t); len(v) == 0 {
			t.Error("inline script under script-src 'self' reported no violation")
		}
		if title := eval[string](t, tab, "document.title"); title == "ran" {
			t.Error("the inline script ran: the CSP header was not applied")
		}
	})
	t.Run("without JavaScript", func(t *testing.T) {
		tab := b.NewTab(t)
		tab.DisableScripts(t)
		tab.Open(t, srv.URL+"/inline")
		if got := tab.Text(t, "h1"); got != "Title" {
			t.Errorf("h1 %q", got)
		}
	})
}
