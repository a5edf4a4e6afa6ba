package policies

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/ui"
	"github.com/gdprd/gdprd/internal/web"
)

const (
	privacyV1 = "# Privacy Policy\n\nWe collect your e-mail address.\n\nWe keep it for two years.\n\n## Contact\n\nWrite to dpo@example.com.\n"
	privacyV2 = "# Privacy Policy\n\nWe collect your e-mail address and your printer's serial number.\n\nWe keep it for two years.\n\n## Contact\n\nWrite to dpo@example.com.\n"
	privacyV3 = "# Privacy Policy\n\nDRAFT TEXT NOBODY MAY SEE\n"
	hostile   = "# Hostile\n\n<script>alert('s')</script>\n\n<img src=x onerror=\"alert('i')\">\n\n[click me](javascript:alert('j'))\n\n" +
		"[entity](&#106;avascript:alert('e'))\n\n<javascript:alert('a')>\n\n<a href=\"javascript:alert('r')\">raw</a>\n\n![pixel](https://tracker.example/p.gif)\n"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// fixture is a store with: a privacy policy with versions 1 and 2
// published and 3 drafted; terms of use with one version; a cookie policy
// with only a draft; a notice with hostile Markdown.
func fixture() *fakeStore {
	f := &fakeStore{}
	f.add("cookie-policy", "Cookie Policy")
	f.add("hostile", "Hostile <b>Notice</b>")
	f.add("privacy-policy", "Privacy Policy")
	f.add("terms-of-use", "Terms of Use")
	f.version("privacy-policy", 1, privacyV1, "First version.", false, true, day("2026-01-15"))
	f.version("privacy-policy", 2, privacyV2, "We now record printer serial numbers.", true, true, day("2026-03-01"))
	f.version("privacy-policy", 3, privacyV3, "Secret draft summary.", false, false, day("2026-09-01"))
	f.version("terms-of-use", 1, "# Terms\n\nBe nice.\n", "", false, true, day("2026-01-15"))
	f.version("cookie-policy", 1, "# Cookies\n\nDraft only.\n", "", false, false, day("2026-01-15"))
	f.version("hostile", 1, hostile, "", false, true, day("2026-02-01"))
	return f
}

func newHandler(t *testing.T, store Store) (http.Handler, *ui.UI) {
	t.Helper()
	u, err := ui.New(ui.Options{Organisation: "Acme Printing GmbH"})
	if err != nil {
		t.Fatal(err)
	}
	return New(Options{Notices: store, UI: u, Log: discard()}).Handler(nil), u
}

type response struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, h http.Handler, method, target string, header map[string]string) response {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	body, _ := io.ReadAll(rec.Body)
	return response{rec.Code, rec.Header(), string(body)}
}

func TestRoutes(t *testing.T) {
	h, _ := newHandler(t, fixture())
	tests := []struct {
		name, method, path string
		status             int
		want, not          []string
	}{
		{"index", "GET", "/policies/", 200,
			[]string{"Policies and notices", `href="/policies/privacy-policy"`, "Privacy Policy", "Version 2, effective from 1 March 2026", "Terms of Use", "Acme Printing GmbH"},
			[]string{"Cookie Policy", "Secret draft", "Version 3"}},
		{"current", "GET", "/policies/privacy-policy", 200,
			[]string{"<h1>Privacy Policy</h1>", "<h2>Privacy Policy</h2>", "printer's serial number", `datetime="2026-03-01"`, "1 March 2026",
				"We now record printer serial numbers.", "Significant change", "Current version",
				`href="/policies/privacy-policy/v/1"`, `href="/policies/privacy-policy/diff/1..2"`, consentHash(privacyV2)},
			[]string{"DRAFT TEXT", "Secret draft", "/v/3", "no longer in effect"}},
		{"old version", "GET", "/policies/privacy-policy/v/1", 200,
			[]string{"We collect your e-mail address.", "You are reading version 1, which is no longer in effect.",
				`href="/policies/privacy-policy"`, "Read the current version (version 2)", `aria-current="page"`, consentHash(privacyV1)},
			[]string{"serial number.</p>", "DRAFT TEXT"}},
		{"current by number", "GET", "/policies/privacy-policy/v/2", 200, []string{"serial number"}, []string{"no longer in effect"}},
		{"only version", "GET", "/policies/terms-of-use", 200, []string{"Be nice."}, []string{"/diff/"}},
		{"diff", "GET", "/policies/privacy-policy/diff/1..2", 200,
			[]string{"Changes from version 1 to version 2",
				"<del><span class=\"visually-hidden\">Removed: </span>We collect your e-mail address.</del>",
				"<ins><span class=\"visually-hidden\">Added: </span>We collect your e-mail address and your printer&#39;s serial number.</ins>",
				"Lines added: 1. Lines removed: 1.", "We now record printer serial numbers.", "Unchanged lines not shown: 3"},
			[]string{"DRAFT TEXT", "First version."}},
		// Dangerous links survive only as inert text; raw HTML is dropped.
		{"hostile notice is inert", "GET", "/policies/hostile", 200,
			[]string{"<p>click me</p>", "<p>entity</p>", "raw", `<a href="https://tracker.example/p.gif">pixel</a>`, "Hostile &lt;b&gt;Notice&lt;/b&gt;"},
			[]string{"<script>", "onerror", `href="javascript`, `href="&#106;`, "<img", "alert('s')", "alert('i')", "alert('r')", "<a href=\"\""}},
		{"unknown slug", "GET", "/policies/nope", 404, []string{"Page not found"}, nil},
		{"odd slug", "GET", "/policies/Privacy-Policy", 404, nil, nil},
		{"only a draft", "GET", "/policies/cookie-policy", 404, nil, []string{"Draft only"}},
		{"draft version", "GET", "/policies/privacy-policy/v/3", 404, []string{"Page not found"}, []string{"DRAFT TEXT"}},
		{"unknown version", "GET", "/policies/privacy-policy/v/99", 404, nil, nil},
		{"version of unknown notice", "GET", "/policies/nope/v/1", 404, nil, nil},
		{"draft-only notice version", "GET", "/policies/cookie-policy/v/1", 404, nil, []string{"Draft only"}},
		{"version abc", "GET", "/policies/privacy-policy/v/abc", 400, []string{"This address is not valid"}, nil},
		{"version 0", "GET", "/policies/privacy-policy/v/0", 400, nil, nil},
		{"version 01", "GET", "/policies/privacy-policy/v/01", 400, nil, nil},
		{"version -1", "GET", "/policies/privacy-policy/v/-1", 400, nil, nil},
		{"version +1", "GET", "/policies/privacy-policy/v/+1", 400, nil, nil},
		{"version huge", "GET", "/policies/privacy-policy/v/99999999999999999999", 400, nil, nil},
		{"diff reversed", "GET", "/policies/privacy-policy/diff/2..1", 400, nil, nil},
		{"diff same", "GET", "/policies/privacy-policy/diff/1..1", 400, nil, nil},
		{"diff to draft", "GET", "/policies/privacy-policy/diff/2..3", 404, nil, []string{"DRAFT TEXT"}},
		{"diff unknown", "GET", "/policies/privacy-policy/diff/1..99", 404, nil, nil},
		{"diff unknown notice", "GET", "/policies/nope/diff/1..2", 404, nil, nil},
		{"diff malformed", "GET", "/policies/privacy-policy/diff/1-2", 400, nil, nil},
		{"diff letters", "GET", "/policies/privacy-policy/diff/a..b", 400, nil, nil},
		{"diff empty side", "GET", "/policies/privacy-policy/diff/..2", 400, nil, nil},
		{"deeper path", "GET", "/policies/privacy-policy/v/1/extra", 404, nil, nil},
		{"other path", "GET", "/policies/privacy-policy/x/1", 404, nil, nil},
		{"post", "POST", "/policies/privacy-policy", 405, nil, nil},
		{"head", "HEAD", "/policies/privacy-policy", 200, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, h, tt.method, tt.path, nil)
			if res.status != tt.status {
				t.Fatalf("%s %s: status %d, want %d\n%s", tt.method, tt.path, res.status, tt.status, res.body)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.body, w) {
					t.Errorf("body lacks %q", w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(strings.ToLower(res.body), strings.ToLower(n)) {
					t.Errorf("body contains %q", n)
				}
			}
			checkHeaders(t, res)
			if tt.status == 200 && tt.method == "GET" {
				checkPage(t, res.body)
			}
		})
	}
}

func consentHash(body string) string { return consent.BodyHash(body) }

// checkHeaders asserts the browser chain's headers on any answer.
func checkHeaders(t *testing.T, res response) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
		"Cache-Control":           "no-store",
	}
	for k, v := range want {
		if got := res.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if got := res.header.Values("Set-Cookie"); len(got) > 0 {
		t.Errorf("sets cookies %q", got)
	}
	if res.header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS over plain HTTP")
	}
}

var (
	scriptTag = regexp.MustCompile(`<script\b[^>]*>`)
	styleAttr = regexp.MustCompile(`(?i)\sstyle=|<style\b|\son[a-z]+=`)
)

// checkPage asserts what the CSP relies on: the only script is the
// vendored htmx from our own origin, with no inline code, styles or event
// handlers anywhere.
func checkPage(t *testing.T, body string) {
	t.Helper()
	scripts := scriptTag.FindAllString(body, -1)
	if len(scripts) != 1 || !regexp.MustCompile(`^<script src="/static/htmx\.min\.[0-9a-f]{16}\.js" defer>$`).MatchString(scripts[0]) {
		t.Errorf("scripts %q, want only the hashed htmx", scripts)
	}
	if strings.Contains(body, "<script></script>") || strings.Count(body, "</script>") != 1 {
		t.Error("inline script")
	}
	if m := styleAttr.FindString(body); m != "" {
		t.Errorf("inline style or handler %q", m)
	}
	if !strings.Contains(body, `<main id="main"`) || !strings.Contains(body, `href="#main"`) {
		t.Error("no main landmark with a skip link")
	}
}

func TestServerErrorHidesDetail(t *testing.T) {
	f := fixture()
	f.fail = errDatabase
	h, _ := newHandler(t, f)
	for _, path := range []string{"/policies/", "/policies/privacy-policy", "/policies/privacy-policy/v/1", "/policies/privacy-policy/diff/1..2"} {
		t.Run(path, func(t *testing.T) {
			res := get(t, h, "GET", path, nil)
			if res.status != 500 {
				t.Fatalf("status %d, want 500", res.status)
			}
			if strings.Contains(res.body, "on fire") || strings.Contains(res.body, "secret") {
				t.Fatal("internal error text reached the page")
			}
			if !strings.Contains(res.body, "Something went wrong") {
				t.Error("no error page")
			}
			checkHeaders(t, res)
		})
	}
}

func TestLanguages(t *testing.T) {
	h, _ := newHandler(t, fixture())
	tests := []struct {
		name, path, accept string
		lang               string
		want               []string
	}{
		{"english default", "/policies/privacy-policy", "", "en",
			[]string{"<h1>Privacy Policy</h1>", "Effective from", `href="/policies/privacy-policy?lang=de" hreflang="de" lang="de">Deutsch</a>`}},
		{"german by header", "/policies/privacy-policy", "de-DE,de;q=0.9,en;q=0.5", "de",
			[]string{"<h1>Datenschutzerklärung</h1>", "Gültig ab", "1. März 2026", "Wesentliche Änderung", `href="/policies/privacy-policy/v/1"`}},
		{"german by switch keeps links german", "/policies/privacy-policy?lang=de", "en", "de",
			[]string{"<h1>Datenschutzerklärung</h1>", `href="/policies/privacy-policy/v/1?lang=de"`, `href="/policies/?lang=de"`, `aria-current="true">Deutsch`}},
		{"french", "/policies/privacy-policy/diff/1..2?lang=fr", "", "fr",
			[]string{"Modifications de la version 1 à la version 2", "Lignes ajoutées : 1."}},
		{"german index", "/policies/", "de", "de", []string{"Richtlinien und Hinweise", "Version 2, gültig ab 1. März 2026", "Nutzungsbedingungen"}},
		{"german 404", "/policies/nope", "de", "de", []string{"Seite nicht gefunden"}},
		{"operator title untranslated", "/policies/hostile", "de", "de", []string{"Hostile &lt;b&gt;Notice&lt;/b&gt;"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, h, "GET", tt.path, map[string]string{"Accept-Language": tt.accept})
			if !strings.Contains(res.body, `<html lang="`+tt.lang+`">`) {
				t.Errorf("page not in %s", tt.lang)
			}
			if got := res.header.Get("Content-Language"); got != tt.lang {
				t.Errorf("Content-Language %q, want %q", got, tt.lang)
			}
			if !strings.Contains(res.header.Get("Vary"), "Accept-Language") {
				t.Error("no Vary: Accept-Language")
			}
			for _, w := range tt.want {
				if !strings.Contains(res.body, w) {
					t.Errorf("body lacks %q", w)
				}
			}
			checkHeaders(t, res)
		})
	}
}

// TestAssetsLinkedFromPages follows the stylesheet and script URLs of a
// real page to the static handler, as a browser would.
func TestAssetsLinkedFromPages(t *testing.T) {
	h, u := newHandler(t, fixture())
	static := web.Browser(discard(), nil)(u.Static())
	res := get(t, h, "GET", "/policies/privacy-policy", nil)
	urls := regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`).FindAllStringSubmatch(res.body, -1)
	if len(urls) != 3 {
		t.Fatalf("page links %d static files, want 3 (css, icon, htmx)", len(urls))
	}
	for _, m := range urls {
		t.Run(m[1], func(t *testing.T) {
			a := get(t, static, "GET", m[1], nil)
			if a.status != 200 {
				t.Fatalf("status %d", a.status)
			}
			if got := a.header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control %q", got)
			}
			if a.header.Get("Content-Security-Policy") == "" || a.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("static file without the browser headers")
			}
			stale := regexp.MustCompile(`\.[0-9a-f]{16}\.`).ReplaceAllString(m[1], ".0123456789abcdef.")
			if b := get(t, static, "GET", stale, nil); b.status != 404 {
				t.Errorf("wrong hash %s: status %d, want 404", stale, b.status)
			}
		})
	}
}

func TestFoldRows(t *testing.T) {
	lines := func(n int, prefix string) []edit {
		var out []edit
		for i := range n {
			out = append(out, edit{opEqual, prefix + string(rune('a'+i))})
		}
		return out
	}
	tests := []struct {
		name  string
		edits []edit
		want  string
	}{
		{"no change folds all", lines(10, ""), "skip10"},
		{"one line is shown not folded", append(append(lines(4, ""), edit{opInsert, "x"}), lines(0, "")...), "same same same same add"},
		{"context around change", append(append(lines(8, "p"), edit{opDelete, "x"}), lines(8, "s")...),
			"skip5 same same same del same same same skip5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range foldRows(tt.edits, 3) {
				if r.Kind == "skip" {
					got = append(got, "skip"+strconv.Itoa(r.Count))
				} else {
					got = append(got, r.Kind)
				}
			}
			if s := strings.Join(got, " "); s != tt.want {
				t.Fatalf("rows %q, want %q", s, tt.want)
			}
		})
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
