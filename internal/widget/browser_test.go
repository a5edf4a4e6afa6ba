package widget_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/ui/uitest"
)

// hostPage is the host's own website, on another origin than gdprd, with
// the one line of HTML the operator pastes in.
const hostPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PrintFarm Cloud</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><header><p>PrintFarm Cloud</p></header>
<main><h1>Print anything, anywhere</h1><p>Upload a model and pick a printer.</p><a href="/pricing">Pricing</a></main>
<script src="%s/widget.js" data-site="printfarm" defer></script>
</body></html>`

// TestWidgetInBrowser runs the widget on a host page in headless Chromium:
// nothing stored before a choice, accept and reject of equal weight, every
// switch unticked, keyboard operable, WCAG 2.1 AA (axe), the choice kept,
// reopened and changed, and Global Privacy Control honoured.
func TestWidgetInBrowser(t *testing.T) {
	uitest.ExecPath(t) // skip early on a laptop without Chromium
	var gdprd string
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, hostPage, gdprd)
	}))
	defer host.Close()
	d := startDemo(t, sqlstore.SQLite, "--widget-origins", host.URL)
	gdprd = d.base
	dir := filepath.Join(uitest.OutputDir(t), "widget")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := uitest.NewBrowser(t)
	banner := `document.querySelector(".gdprd-cw") !== null`

	tab := b.NewTab(t)
	tab.Open(t, host.URL)
	tab.WaitFor(t, banner)

	t.Run("nothing stored before the choice", func(t *testing.T) {
		if n := uitest.Eval[int](t, tab, `localStorage.length + sessionStorage.length`); n != 0 {
			t.Errorf("%d storage entries before any choice", n)
		}
		if c := tab.Cookies(t, host.URL, gdprd); len(c) != 0 {
			t.Errorf("cookies before any choice: %v", c)
		}
	})
	t.Run("accept and reject have equal weight", func(t *testing.T) {
		same := uitest.Eval[string](t, tab, `(() => {
			const a = document.querySelector('[data-action="accept-all"]'), r = document.querySelector('[data-action="reject-all"]');
			const ra = a.getBoundingClientRect(), rr = r.getBoundingClientRect();
			const sa = getComputedStyle(a), sr = getComputedStyle(r);
			const diffs = [];
			if (Math.abs(ra.width - rr.width) > 1 || Math.abs(ra.height - rr.height) > 1) diffs.push("size " + ra.width + "x" + ra.height + " vs " + rr.width + "x" + rr.height);
			for (const p of ["background-color", "color", "font-size", "font-weight", "border-top-width", "border-top-color"]) {
				if (sa.getPropertyValue(p) !== sr.getPropertyValue(p)) diffs.push(p);
			}
			if (Math.abs(ra.top - rr.top) > 1) diffs.push("not on one line");
			return diffs.join("; ");
		})()`)
		if same != "" {
			t.Errorf("accept-all and reject-all differ: %s", same)
		}
	})
	t.Run("every switch unticked", func(t *testing.T) {
		uitest.Eval[bool](t, tab, `document.querySelector('[aria-controls="gdprd-cw-panel"]').click(), true`)
		state := uitest.Eval[[]bool](t, tab, `[...document.querySelectorAll('.gdprd-cw-panel input[type=checkbox]')].map(b => b.checked)`)
		if len(state) != 3 {
			t.Fatalf("%d switches, want one per optional purpose (3)", len(state))
		}
		for i, on := range state {
			if on {
				t.Errorf("switch %d is pre-ticked", i)
			}
		}
		tab.CheckPage(t, dir, "banner-panel")
		uitest.Eval[bool](t, tab, `document.querySelector('[aria-controls="gdprd-cw-panel"]').click(), true`)
	})
	t.Run("keyboard: Tab to reject all, Enter", func(t *testing.T) {
		found := false
		for i := 0; i < 8 && !found; i++ {
			tab.Press(t, "\t")
			found = uitest.Eval[bool](t, tab, `document.activeElement && document.activeElement.dataset.action === "reject-all"`)
		}
		if !found {
			t.Fatal("Reject all cannot be reached with the Tab key")
		}
		tab.Press(t, "\r")
		tab.WaitFor(t, `localStorage.getItem("gdprd-consent") !== null && document.querySelector(".gdprd-cw") === null`)
		choices := uitest.Eval[map[string]bool](t, tab, `JSON.parse(localStorage.getItem("gdprd-consent")).choices`)
		if len(choices) != 3 {
			t.Fatalf("stored choices %v", choices)
		}
		for p, on := range choices {
			if on {
				t.Errorf("%s granted by Reject all", p)
			}
		}
		if c := tab.Cookies(t, host.URL, gdprd); len(c) != 0 {
			t.Errorf("cookies after the choice: %v (gdprd sets none)", c)
		}
	})
	t.Run("kept, then reopened and changed", func(t *testing.T) {
		tab.Open(t, host.URL)
		tab.WaitFor(t, `document.querySelector(".gdprd-cw-reopen") !== null`)
		if uitest.Eval[bool](t, tab, banner) {
			t.Fatal("the banner came back although the choice is stored")
		}
		uitest.Eval[bool](t, tab, `document.querySelector(".gdprd-cw-reopen").click(), true`)
		tab.WaitFor(t, banner)
		uitest.Eval[bool](t, tab, `document.querySelector('[aria-controls="gdprd-cw-panel"]').click(), true`)
		uitest.Eval[bool](t, tab, `document.getElementById("gdprd-cw-p-product-analytics").click(), true`)
		uitest.Eval[bool](t, tab, `document.querySelector(".gdprd-cw-panel button[type=submit]").click(), true`)
		tab.WaitFor(t, `document.querySelector(".gdprd-cw") === null`)
		choices := uitest.Eval[map[string]bool](t, tab, `JSON.parse(localStorage.getItem("gdprd-consent")).choices`)
		if !choices["product-analytics"] || choices["newsletter"] || choices["partner-offers"] {
			t.Errorf("after switching on analytics only: %v", choices)
		}
	})
	t.Run("Global Privacy Control", func(t *testing.T) {
		g := b.NewTab(t)
		g.SendGPC(t)
		g.Open(t, host.URL)
		uitest.Eval[bool](t, g, `localStorage.clear(), true`)
		g.Open(t, host.URL)
		g.WaitFor(t, banner)
		note := uitest.Eval[string](t, g, `(document.querySelector(".gdprd-cw-gpc") || {}).textContent || ""`)
		if !strings.Contains(note, "Global Privacy Control") {
			t.Fatalf("the banner does not say the GPC signal is honoured: %q", note)
		}
		g.Screenshot(t, dir, "banner-gpc")
		uitest.Eval[bool](t, g, `document.querySelector('[data-action="accept-all"]').click(), true`)
		g.WaitFor(t, `localStorage.getItem("gdprd-consent") !== null`)
		choices := uitest.Eval[map[string]bool](t, g, `JSON.parse(localStorage.getItem("gdprd-consent")).choices`)
		if choices["newsletter"] || choices["partner-offers"] || !choices["product-analytics"] {
			t.Errorf("accept-all under GPC: %v; marketing must stay off", choices)
		}
		for _, l := range g.Console() {
			t.Errorf("console: %s", l)
		}
	})
	for _, l := range tab.Console() {
		t.Errorf("console: %s", l)
	}
	t.Logf("screenshots in %s", dir)
}
