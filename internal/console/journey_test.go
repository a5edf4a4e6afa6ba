package console_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/cli"
	"github.com/gdprd/gdprd/internal/ui/uitest"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gdprd runs the real Main to completion and returns its stdout.
func gdprd(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := cli.Main(context.Background(), args, cli.Env{Stdout: &out, Stderr: &errb}); code != 0 {
		t.Fatalf("gdprd %s: exit %d\n%s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

// serve runs `gdprd serve` on a free port until the test ends and returns
// the base URL on localhost (browsers accept the Secure __Host- cookie
// on http://localhost, not on http://127.0.0.1).
func serve(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, append([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0"}, args...), cli.Env{
			Stdout: io.Discard, Stderr: log, Ready: func(addr string) { ready <- addr },
		})
	}()
	var base string
	select {
	case addr := <-ready:
		_, port, _ := net.SplitHostPort(addr)
		base = "http://localhost:" + port
	case code := <-done:
		cancel()
		t.Fatalf("gdprd serve exited %d before listening:\n%s", code, log.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("gdprd serve did not start within 30 s")
	}
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("gdprd serve exited %d:\n%s", code, log.String())
		}
		if strings.Contains(log.String(), "@example.org") {
			t.Error("an e-mail address reached the server log")
		}
	})
	return base
}

// enrolInBrowser walks an enrolment link in tab: password, TOTP from the
// secret shown as text, recovery codes; every page checked with axe. It
// returns the TOTP secret.
func enrolInBrowser(t *testing.T, tab *uitest.Tab, link, password, dir, who string) string {
	t.Helper()
	if st := tab.Open(t, link); st != http.StatusOK {
		t.Fatalf("enrolment link: %d", st)
	}
	tab.CheckPage(t, dir, who+"-enrol-link")
	tab.Click(t, "main form button")
	if got := tab.Text(t, "h1"); got != "Choose a password" {
		t.Fatalf("after start: %q", got)
	}
	tab.CheckPage(t, dir, who+"-enrol-password")
	tab.Fill(t, "#password", password)
	tab.Fill(t, "#password2", password)
	tab.Click(t, "main form button")
	if got := tab.Text(t, "h1"); got != "Set up your authenticator app" {
		t.Fatalf("after password: %q", got)
	}
	if !tab.ImageLoaded(t, "img.qr") {
		t.Error("the QR code image did not load")
	}
	tab.CheckPage(t, dir, who+"-enrol-totp")
	secret := strings.TrimSpace(tab.Text(t, "#totp-secret"))
	tab.Fill(t, "#code", totpCode(t, secret, time.Now()))
	tab.Click(t, "main form button")
	if got := tab.Text(t, "h1"); got != "Your recovery codes" {
		t.Fatalf("after the first code: %q", got)
	}
	if codes := strings.Fields(tab.Text(t, "#recovery-codes")); len(codes) != 10 {
		t.Errorf("%d recovery codes shown", len(codes))
	}
	tab.CheckPage(t, dir, who+"-recovery-codes")
	tab.Click(t, "main a.button")
	return secret
}

// TestJourneyOwnerAndSupport is the staff journey of the issue: an owner
// created by `gdprd admin create` enrols password and TOTP, signs out and
// in again, sees the dashboard and creates a support user, who enrols and
// cannot reach owner pages. Every console page is checked with axe-core
// (0 violations at WCAG 2.1 AA), for CSP violations and overflow, with
// screenshots in the test output directory.
func TestJourneyOwnerAndSupport(t *testing.T) {
	uitest.ExecPath(t)
	dir := t.TempDir()
	gdprd(t, "keys", "init", "--data", dir)
	base := serve(t, dir)
	link := strings.TrimSpace(gdprd(t, "admin", "create", "--data", dir, "--public-url", base, "--email", "owner@example.org", "--role", "owner"))
	if !strings.HasPrefix(link, base+"/console/enrol/") {
		t.Fatalf("enrolment link %q", link)
	}
	shots := filepath.Join(uitest.OutputDir(t), "console")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	const ownerPassword = "a long and quiet river at dawn 7"
	owner := uitest.NewBrowser(t).NewTab(t)
	secret := enrolInBrowser(t, owner, link, ownerPassword, shots, "owner")
	if got := owner.Text(t, "#welcome"); !strings.Contains(got, "owner@example.org") || !strings.Contains(got, "Owner") {
		t.Fatalf("dashboard after enrolment: %q", got)
	}

	// Sign out, then in with password and TOTP (the next step's code: the
	// enrolment code's step is used up).
	owner.Click(t, `form[action="/console/signout"] button`)
	if got := owner.Text(t, "h1"); got != "Sign in to the console" {
		t.Fatalf("after sign-out: %q", got)
	}
	owner.CheckPage(t, shots, "signin")
	owner.Fill(t, "#email", "owner@example.org")
	owner.Fill(t, "#password", "wrong password entirely")
	owner.Click(t, "main form button")
	if got := owner.Text(t, ".form-error"); !strings.Contains(got, "not correct") {
		t.Fatalf("wrong password: %q", got)
	}
	owner.CheckPage(t, shots, "signin-failed")
	owner.Fill(t, "#password", ownerPassword)
	owner.Click(t, "main form button")
	if got := owner.Text(t, "h1"); got != "Enter your code" {
		t.Fatalf("after password: %q", got)
	}
	owner.CheckPage(t, shots, "signin-code")
	owner.Fill(t, "#code", totpCode(t, secret, time.Now().Add(30*time.Second)))
	owner.Click(t, "main form button")
	if got := owner.Text(t, "h1"); got != "Dashboard" {
		t.Fatalf("after the code: %q", got)
	}
	owner.CheckPage(t, shots, "dashboard-owner")

	// Create a support user.
	owner.Click(t, `.console-nav a[href="/console/staff"]`)
	owner.CheckPage(t, shots, "staff")
	owner.Fill(t, "#new-email", "sam@example.org")
	owner.Click(t, `form[action="/console/staff"] button`)
	supportLink := strings.Replace(strings.TrimSpace(owner.Text(t, "#enrol-link")), "http://127.0.0.1:", "http://localhost:", 1)
	if !strings.HasPrefix(supportLink, base+"/console/enrol/") {
		t.Fatalf("support enrolment link %q", supportLink)
	}
	owner.CheckPage(t, shots, "staff-created")

	// The support user, in a browser of their own.
	supportBrowser := uitest.NewBrowser(t)
	support := supportBrowser.NewTab(t)
	enrolInBrowser(t, support, supportLink, "another quiet river, at dusk 8", shots, "support")
	if got := support.Text(t, "#welcome"); !strings.Contains(got, "sam@example.org") || !strings.Contains(got, "Support") {
		t.Fatalf("support dashboard: %q", got)
	}
	support.CheckPage(t, shots, "dashboard-support")
	// The refusal is checked in a tab of its own (the same browser, so the
	// same session): Chromium logs every 403 document as a console error,
	// which CheckPage would count against the pages after it.
	denied := supportBrowser.NewTab(t)
	if st := denied.Open(t, base+"/console/staff"); st != http.StatusForbidden {
		t.Fatalf("support opened the staff page: %d", st)
	}
	if got := denied.Text(t, "h1"); got != "Not allowed" {
		t.Fatalf("support on the staff page: %q", got)
	}
	for _, v := range denied.Axe(t, uitest.WCAG21AA()) {
		t.Errorf("forbidden page: axe: %s", v)
	}
	for _, v := range denied.CSPViolations(t) {
		t.Errorf("forbidden page: CSP: %s", v)
	}
	denied.Screenshot(t, shots, "forbidden")

	// German pages are complete too.
	if st := support.Open(t, base+"/console/?lang=de"); st != http.StatusOK {
		t.Fatalf("dashboard in German: %d", st)
	}
	if got := support.Text(t, "h1"); got != "Übersicht" {
		t.Fatalf("German dashboard h1 %q", got)
	}
	support.CheckPage(t, shots, "dashboard-de")

	// Without JavaScript the sign-in form still works.
	nojs := uitest.NewBrowser(t).NewTab(t)
	nojs.DisableScripts(t)
	nojs.Open(t, base+"/console/signin")
	nojs.Fill(t, "#email", "sam@example.org")
	nojs.Fill(t, "#password", "another quiet river, at dusk 8")
	nojs.Click(t, "main form button")
	if got := nojs.Text(t, "h1"); got != "Enter your code" {
		t.Fatalf("without JavaScript: %q", got)
	}

	// The API never takes a browser session: the cookie alone is refused.
	req, _ := http.NewRequest("GET", base+"/api/v1/purposes", nil)
	req.AddCookie(&http.Cookie{Name: "__Host-gdprd-session", Value: "x"})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API with a cookie: %d", resp.StatusCode)
	}
}
