package policies_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/ui/uitest"
)

// TestBrowser opens the public policy pages of a real `gdprd serve` in
// headless Chromium, in English and German, and checks each one: WCAG 2.1
// AA with axe-core, no CSP violation or console error, no horizontal
// overflow on a 375 px phone and at 200% zoom, with screenshots in
// $GDPRD_TEST_OUTPUT. It then walks the language switch and reads a policy
// with JavaScript off.
func TestBrowser(t *testing.T) {
	uitest.ExecPath(t) // skip early on a laptop without Chromium
	base := startServer(t)
	b := uitest.NewBrowser(t)
	dir := filepath.Join(uitest.OutputDir(t), "policies")
	if err := mkdir(dir); err != nil {
		t.Fatal(err)
	}

	pages := []struct {
		name, path string
		h1         map[string]string // expected <h1> per language
	}{
		{"index", "/policies/", map[string]string{"en": "Policies and notices", "de": "Richtlinien und Hinweise"}},
		{"current", "/policies/privacy-policy", map[string]string{"en": "Privacy Policy", "de": "Datenschutzerklärung"}},
		{"version1", "/policies/privacy-policy/v/1", map[string]string{"en": "Privacy Policy", "de": "Datenschutzerklärung"}},
		{"diff", "/policies/privacy-policy/diff/1..2", map[string]string{
			"en": "Privacy Policy: Changes from version 1 to version 2",
			"de": "Datenschutzerklärung: Änderungen von Version 1 zu Version 2"}},
	}
	for _, lang := range []string{"en", "de"} {
		for _, p := range pages {
			t.Run(p.name+"-"+lang, func(t *testing.T) {
				tab := b.NewTab(t)
				if st := tab.Open(t, base+p.path+"?lang="+lang); st != 200 {
					t.Fatalf("status %d", st)
				}
				if got := tab.HTMLAttr(t, "lang"); got != lang {
					t.Errorf("<html lang=%q>, want %q", got, lang)
				}
				if got := strings.TrimSpace(tab.Text(t, "h1")); got != p.h1[lang] {
					t.Errorf("h1 %q, want %q", got, p.h1[lang])
				}
				tab.CheckPage(t, dir, "policies-"+p.name+"-"+lang)
			})
		}
	}

	t.Run("language switch", func(t *testing.T) {
		tab := b.NewTab(t)
		tab.Open(t, base+"/policies/privacy-policy")
		if got := tab.HTMLAttr(t, "lang"); got != "en" {
			t.Fatalf("browser in en-US got a page in %q", got)
		}
		tab.Click(t, `nav a[hreflang="de"]`)
		if got := tab.Text(t, "h1"); got != "Datenschutzerklärung" {
			t.Fatalf("after the switch, h1 %q", got)
		}
		// The choice sticks while reading on, with no cookie.
		tab.Click(t, `.versions a[href*="/v/1"]`)
		if got := tab.HTMLAttr(t, "lang"); got != "de" {
			t.Errorf("following a link lost the language: %q", got)
		}
		if got := tab.Text(t, ".callout p"); !strings.Contains(got, "nicht mehr gilt") {
			t.Errorf("old-version notice %q", got)
		}
	})

	t.Run("without JavaScript", func(t *testing.T) {
		tab := b.NewTab(t)
		tab.DisableScripts(t)
		tab.Open(t, base+"/policies/")
		tab.Click(t, `.card a[href="/policies/privacy-policy"]`)
		tab.Click(t, `.summary a[href$="/diff/1..2"]`)
		if got := tab.Text(t, ".diff ins"); !strings.Contains(got, "serial number") {
			t.Errorf("first insertion %q", got)
		}
		tab.Screenshot(t, dir, "policies-diff-nojs")
	})
	t.Logf("screenshots in %s", dir)
}

func mkdir(dir string) error { return os.MkdirAll(dir, 0o755) }
