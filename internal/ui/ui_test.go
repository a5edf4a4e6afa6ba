package ui

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
)

func newUI(t *testing.T, o Options) *UI {
	t.Helper()
	u, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestPagesParsed(t *testing.T) {
	u := newUI(t, Options{})
	for _, name := range []string{"error", "policies/index", "policies/policy", "policies/diff"} {
		t.Run(name, func(t *testing.T) {
			if u.pages[name] == nil {
				t.Fatalf("no page template %q", name)
			}
		})
	}
}

func TestAssetsServed(t *testing.T) {
	u := newUI(t, Options{})
	css, err := u.AssetURL("app.css")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^/static/app\.[0-9a-f]{16}\.css$`).MatchString(css) {
		t.Fatalf("app.css URL %q is not content-hashed", css)
	}
	htmx, err := u.AssetURL("htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.AssetURL("nope.css"); err == nil {
		t.Fatal("AssetURL of a missing file succeeded")
	}
	wrongHash := strings.Replace(css, css[len("/static/app."):len("/static/app.")+4], "0000", 1)
	if wrongHash == css {
		t.Fatal("test setup: wrong hash equals the real one")
	}
	tests := []struct {
		name, method, path string
		status             int
		ctype              string
		immutable          bool
	}{
		{"css", "GET", css, 200, "text/css; charset=utf-8", true},
		{"js", "GET", htmx, 200, "text/javascript; charset=utf-8", true},
		{"head", "HEAD", css, 200, "text/css; charset=utf-8", true},
		{"wrong hash", "GET", wrongHash, 404, "", false},
		{"unhashed name", "GET", "/static/app.css", 404, "", false},
		{"provenance not served", "GET", "/static/PROVENANCE.md", 404, "", false},
		{"directory", "GET", "/static/", 404, "", false},
		{"traversal", "GET", "/static/../ui.go", 404, "", false},
		{"post", "POST", css, 405, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			rec := httptest.NewRecorder()
			u.Static().ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("%s %s: status %d, want %d", tt.method, tt.path, rec.Code, tt.status)
			}
			if tt.status != 200 {
				if cc := rec.Header().Get("Cache-Control"); strings.Contains(cc, "immutable") {
					t.Errorf("error answer cached as %q", cc)
				}
				return
			}
			if got := rec.Header().Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			if got := rec.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control %q, want a year, immutable", got)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if tt.method == "GET" && rec.Body.Len() == 0 {
				t.Error("empty body")
			}
		})
	}
}

// TestAssetRevalidation checks that a browser holding the file gets a 304.
func TestAssetRevalidation(t *testing.T) {
	u := newUI(t, Options{})
	css, _ := u.AssetURL("app.css")
	rec := httptest.NewRecorder()
	u.Static().ServeHTTP(rec, httptest.NewRequest("GET", css, nil))
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	req := httptest.NewRequest("GET", css, nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	u.Static().ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match: status %d, want 304", rec.Code)
	}
}

// TestHashFollowsContent checks the property the long cache relies on: a
// different file gets a different URL.
func TestHashFollowsContent(t *testing.T) {
	a1, err := newAssets(fstestFS(map[string]string{"x.css": "a{}"}))
	if err != nil {
		t.Fatal(err)
	}
	a2, err := newAssets(fstestFS(map[string]string{"x.css": "b{}"}))
	if err != nil {
		t.Fatal(err)
	}
	u1, _ := a1.URL("x.css")
	u2, _ := a2.URL("x.css")
	if u1 == u2 {
		t.Fatalf("two contents share the URL %s", u1)
	}
	if _, err := newAssets(fstestFS(map[string]string{"x.exe": "MZ"})); err == nil {
		t.Fatal("a file of unknown type was accepted")
	}
}

// TestVendoredFilesMatchProvenance keeps PROVENANCE.md honest: the hash it
// records is the hash of the committed file.
func TestVendoredFilesMatchProvenance(t *testing.T) {
	tests := []struct{ dir, file string }{
		{"static", "htmx.min.js"},
		{"uitest", "axe.min.js"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(tt.dir + "/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			prov, err := os.ReadFile(tt.dir + "/PROVENANCE.md")
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(body)
			row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(tt.file) + "` .*`([0-9a-f]{64})` \\|$").FindSubmatch(prov)
			if row == nil {
				t.Fatalf("PROVENANCE.md has no row for %s", tt.file)
			}
			if got := hex.EncodeToString(sum[:]); got != string(row[1]) {
				t.Fatalf("%s has SHA-256 %s, PROVENANCE.md says %s", tt.file, got, row[1])
			}
		})
	}
}

// TestStylesheetSelfContained keeps the CSS within style-src 'self' and
// free of third-party requests: no imports, no remote URLs.
func TestStylesheetSelfContained(t *testing.T) {
	css, err := os.ReadFile("static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"@import", "url(", "http:", "https:", "expression("} {
		if strings.Contains(string(css), bad) {
			t.Errorf("app.css contains %q", bad)
		}
	}
}

func TestLanguage(t *testing.T) {
	u := newUI(t, Options{})
	tests := []struct {
		name, target, accept string
		tag                  string
		explicit             bool
	}{
		{"default", "/policies/", "", "en", false},
		{"header", "/policies/", "de-DE,de;q=0.9", "de", false},
		{"query wins", "/policies/?lang=fr", "de", "fr", true},
		{"unknown query ignored", "/policies/?lang=xx", "de", "de", false},
		{"query is exact", "/policies/?lang=DE", "", "en", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.target, nil)
			if tt.accept != "" {
				r.Header.Set("Accept-Language", tt.accept)
			}
			tag, explicit := u.Language(r)
			if tag != tt.tag || explicit != tt.explicit {
				t.Fatalf("Language = %q, %v; want %q, %v", tag, explicit, tt.tag, tt.explicit)
			}
		})
	}
}

func TestPageHref(t *testing.T) {
	u := newUI(t, Options{})
	tests := []struct{ target, want string }{
		{"/policies/x", "/policies/y"},
		{"/policies/x?lang=de", "/policies/y?lang=de"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			p := u.NewPage(httptest.NewRequest("GET", tt.target, nil))
			if got := p.Href("/policies/y"); got != tt.want {
				t.Fatalf("Href = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenderError(t *testing.T) {
	tests := []struct {
		name, org, accept string
		status            int
		want              []string
	}{
		{"404 en", "", "", 404, []string{`<html lang="en">`, "Page not found", "Privacy and legal notices"}},
		{"404 de", "", "de", 404, []string{`<html lang="de">`, "Seite nicht gefunden"}},
		{"400 fr", "", "fr", 400, []string{`<html lang="fr">`, "Cette adresse n’est pas valide"}},
		{"500 with org", "Acme <Printing> GmbH", "", 500, []string{"Something went wrong", "Acme &lt;Printing&gt; GmbH"}},
		{"other status", "", "", 418, []string{"Something went wrong"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUI(t, Options{Organisation: tt.org})
			r := httptest.NewRequest("GET", "/policies/nope", nil)
			r.Header.Set("Accept-Language", tt.accept)
			rec := httptest.NewRecorder()
			u.RenderError(rec, r, tt.status)
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d", rec.Code, tt.status)
			}
			body, _ := io.ReadAll(rec.Body)
			for _, w := range tt.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("body lacks %q", w)
				}
			}
			if got := rec.Header().Get("Content-Type"); got != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", got)
			}
			for _, asset := range []string{"app.css", "htmx.min.js", "favicon.svg"} {
				url, _ := u.AssetURL(asset)
				if !strings.Contains(string(body), `"`+url+`"`) {
					t.Errorf("page does not link %s as %s", asset, url)
				}
			}
			if strings.Contains(string(body), "<script>") || strings.Contains(string(body), "style=") {
				t.Error("page has inline script or style, which the CSP blocks")
			}
		})
	}
}
