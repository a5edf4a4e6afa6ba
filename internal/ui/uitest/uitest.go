// Package uitest drives gdprd's pages in headless Chromium for tests: it
// checks them with axe-core against WCAG 2.1 AA, watches for
// Content-Security-Policy violations, measures horizontal overflow at
// phone width and 200% zoom, and saves screenshots.
//
// Tests that use it skip when no Chromium is installed, except under
// CI=true, where a missing browser fails the run: CI must never pass by
// not looking.
package uitest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// axeSource is axe-core, vendored from npm (see PROVENANCE.md). It is
// injected through the DevTools protocol, which the page's CSP does not
// govern, so the page itself never needs to allow it.
//
//go:embed axe.min.js
var axeSource string

// WCAG21AA returns the axe-core rule tags of WCAG 2.1 levels A and AA.
func WCAG21AA() []string { return []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"} }

// Viewport is a window size to check a page at.
type Viewport struct {
	Name          string
	Width, Height int64
	Scale         float64 // device pixels per CSS pixel
	Mobile        bool
}

// Desktop is a common laptop window.
func Desktop() Viewport { return Viewport{Name: "desktop", Width: 1280, Height: 800, Scale: 1} }

// Phone is a 375 px wide phone held upright.
func Phone() Viewport {
	return Viewport{Name: "phone", Width: 375, Height: 812, Scale: 2, Mobile: true}
}

// Zoom200 is the Desktop window at 200% browser zoom: zoom halves the
// viewport in CSS pixels and doubles the resolution, so a 1280×800 window
// lays out as 640×400 (WCAG 1.4.4 resize text, 1.4.10 reflow).
func Zoom200() Viewport { return Viewport{Name: "zoom200", Width: 640, Height: 400, Scale: 2} }

// ExecPath finds Chromium, or skips the test (fails it under CI=true).
func ExecPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium found: under CI=true browser tests must run (scripts/install-test-deps.sh installs it)")
	}
	t.Skip("no Chromium found; install the Debian package chromium to run browser tests (they fail under CI=true)")
	return ""
}

// OutputDir is where screenshots go: $GDPRD_TEST_OUTPUT (created if
// needed) or a temporary directory of the test.
func OutputDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("GDPRD_TEST_OUTPUT")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Browser is one headless Chromium with a fresh profile.
type Browser struct {
	ctx context.Context
}

// NewBrowser starts Chromium for the test and stops it at cleanup.
func NewBrowser(t testing.TB) *Browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ExecPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // start the browser now, without a timeout
		t.Fatalf("start Chromium: %v", err)
	}
	return &Browser{ctx: ctx}
}

// Tab is one browser tab that records console messages and CSP
// violations from the moment it opens.
type Tab struct {
	ctx context.Context
	mu  sync.Mutex
	log []string // console and log entries at level error or warning
}

// NewTab opens a tab, closed at cleanup.
func (b *Browser) NewTab(t testing.TB) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	tab := &Tab{ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
				tab.record(fmt.Sprintf("%s %s: %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text))
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value))
				}
				tab.record(fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " ")))
			}
		case *runtime.EventExceptionThrown:
			tab.record("exception: " + ev.ExceptionDetails.Text)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// Record CSP violations from inside each page too, before any of its
	// own code runs: the event carries the directive and the blocked URI.
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{}); err != nil {
			return err
		}
		if _, err := cdp.Call(ctx, tg, runtime.Enable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorder})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	return tab
}

const cspRecorder = `window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", e => {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
});`

func (tab *Tab) record(s string) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	tab.log = append(tab.log, s)
}

// Console returns the errors and warnings logged so far.
func (tab *Tab) Console() []string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return append([]string(nil), tab.log...)
}

// run runs actions with a timeout, failing the test on error.
func (tab *Tab) run(t testing.TB, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) into T.
func eval[T any](t testing.TB, tab *Tab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %.60q: %v", expr, err)
	}
	return v
}

// Open navigates to url and returns the HTTP status of the document.
func (tab *Tab) Open(t testing.TB, url string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 60*time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return int(resp.Status)
}

// SetViewport emulates a window size, then lets the layout settle.
func (tab *Tab) SetViewport(t testing.TB, v Viewport) {
	t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(v.Scale)}
	if v.Mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	}
	tab.run(t, "set viewport "+v.Name, chromedp.EmulateViewport(v.Width, v.Height, opts...))
	eval[chromedp.Void](t, tab, `new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))`)
}

// DisableScripts turns JavaScript off for the pages this tab opens next,
// to show a page works without it.
func (tab *Tab) DisableScripts(t testing.TB) {
	t.Helper()
	tab.run(t, "disable scripts", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
}

// Text returns the text content of the first element matching a CSS
// selector, read through the DevTools DOM rather than page script, so it
// works with JavaScript disabled too.
func (tab *Tab) Text(t testing.TB, selector string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		t.Fatalf("text of %s: %v", selector, err)
	}
	return s
}

// Click clicks the first element matching a CSS selector and waits for the
// page it leads to.
func (tab *Tab) Click(t testing.TB, selector string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 60*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(selector)))); err != nil {
		t.Fatalf("click %s: %v", selector, err)
	}
}

// HTMLAttr returns an attribute of the document element ("lang").
func (tab *Tab) HTMLAttr(t testing.TB, name string) string {
	t.Helper()
	return eval[string](t, tab, fmt.Sprintf(`document.documentElement.getAttribute(%q) || ""`, name))
}

// Violation is one failed axe-core rule with the elements that fail it.
type Violation struct {
	ID, Impact, Help string
	Nodes            []string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(v.Nodes, ", "))
}

// Axe injects axe-core into the current page and returns its violations of
// the given rule tags. axe itself failing is a test failure, never "no
// violations".
func (tab *Tab) Axe(t testing.TB, tags []string) []Violation {
	t.Helper()
	if eval[bool](t, tab, `typeof window.axe === "undefined"`) {
		eval[chromedp.Void](t, tab, axeSource+"\n;undefined")
	}
	tagJSON, _ := json.Marshal(tags)
	raw := eval[[]byte](t, tab, `axe.run(document, {runOnly: {type: "tag", values: `+string(tagJSON)+`}, resultTypes: ["violations"]})
  .then(r => ({passes: r.passes.length, violations: r.violations.map(v => ({
    ID: v.id, Impact: v.impact || "", Help: v.help,
    Nodes: v.nodes.map(n => n.target.join(" ") + " " + (n.failureSummary || "").replace(/\s+/g, " "))}))}))`)
	var res struct {
		Passes     int
		Violations []Violation
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("axe result %s: %v", raw, err)
	}
	if res.Passes == 0 && len(res.Violations) == 0 {
		t.Fatal("axe checked no rule at all: it did not run")
	}
	return res.Violations
}

// CSPViolations returns the CSP violations of the current page, seen by
// the page's securitypolicyviolation listener and in the console.
func (tab *Tab) CSPViolations(t testing.TB) []string {
	t.Helper()
	out := eval[[]string](t, tab, `window.__cspViolations || ["CSP recorder missing"]`)
	for _, l := range tab.Console() {
		if strings.Contains(l, "Content Security Policy") || strings.Contains(l, "Content-Security-Policy") {
			out = append(out, l)
		}
	}
	return out
}

// Overflow returns the document's scroll width and client width; content
// overflows horizontally when the first is larger.
func (tab *Tab) Overflow(t testing.TB) (scrollWidth, clientWidth int) {
	t.Helper()
	w := eval[[2]int](t, tab, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
	return w[0], w[1]
}

// Screenshot saves a full-page PNG as dir/name.png and returns its path.
func (tab *Tab) Screenshot(t testing.TB, dir, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// CheckPage runs the whole check on the page open in tab: no CSP
// violation, no axe violation of WCAG 2.1 AA, and no horizontal overflow at
// each viewport, with a screenshot per viewport named prefix-<viewport>.
// It reports every problem with t.Errorf and continues, so one run shows
// them all.
func (tab *Tab) CheckPage(t testing.TB, dir, prefix string) {
	t.Helper()
	for _, v := range tab.CSPViolations(t) {
		t.Errorf("%s: CSP violation: %s", prefix, v)
	}
	for _, vp := range []Viewport{Desktop(), Phone(), Zoom200()} {
		tab.SetViewport(t, vp)
		if vp == Desktop() {
			for _, v := range tab.Axe(t, WCAG21AA()) {
				t.Errorf("%s: axe: %s", prefix, v)
			}
		}
		if sw, cw := tab.Overflow(t); sw > cw {
			t.Errorf("%s at %s (%d px wide): content is %d px wide, overflows horizontally", prefix, vp.Name, cw, sw)
		}
		tab.Screenshot(t, dir, prefix+"-"+vp.Name)
	}
	tab.SetViewport(t, Desktop())
	for _, l := range tab.Console() {
		t.Errorf("%s: console: %s", prefix, l)
	}
}
