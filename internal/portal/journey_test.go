package portal_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gdprd/gdprd/internal/cli"
	"github.com/gdprd/gdprd/internal/ui/uitest"
)

// syncBuffer is an io.Writer safe for the server's goroutines.
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

// mailbox is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that keeps
// the messages it receives.
type mailbox struct {
	mu  sync.Mutex
	got []string
}

type mailSession struct{ mb *mailbox }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	defer s.mb.mu.Unlock()
	s.mb.got = append(s.mb.got, string(b))
	return nil
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

func startMailbox(t *testing.T) (*mailbox, string) {
	t.Helper()
	mb := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{mb: mb}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		l.Close()
		srv.Close()
		<-done
	})
	return mb, l.Addr().String()
}

func (mb *mailbox) count() int {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return len(mb.got)
}

var mailedCode = regexp.MustCompile(`privacy portal is:\s+(\d{6})`)

// code waits for message n (0-based) and returns the code in it.
func (mb *mailbox) code(t *testing.T, n int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for mb.count() <= n {
		if time.Now().After(deadline) {
			t.Fatal("the code mail did not arrive")
		}
		time.Sleep(100 * time.Millisecond)
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	m := mailedCode.FindStringSubmatch(mb.got[n])
	if m == nil {
		t.Fatalf("no code in the mail:\n%s", mb.got[n])
	}
	return m[1]
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

// demo runs `gdprd demo` (PrintFarm Cloud's people, purposes and notices)
// on a free port until the test ends; it returns the base URL on
// localhost and the demo API key it printed.
func demo(t *testing.T, args ...string) (base, key string, log *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log = &syncBuffer{}
	out := &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, append([]string{"demo", "--addr", "127.0.0.1:0"}, args...), cli.Env{
			Stdout: out, Stderr: log, Ready: func(addr string) { ready <- addr },
		})
	}()
	select {
	case addr := <-ready:
		_, port, _ := net.SplitHostPort(addr)
		base = "http://localhost:" + port
	case code := <-done:
		cancel()
		t.Fatalf("gdprd demo exited %d before listening:\n%s", code, log.String())
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("gdprd demo did not start within 60 s")
	}
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("gdprd demo exited %d:\n%s", code, log.String())
		}
		if strings.Contains(log.String(), "@example.org") {
			t.Error("an e-mail address reached the server log")
		}
	})
	m := regexp.MustCompile(`GDPRD_KEY=(\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no API key in the demo output:\n%s", out.String())
	}
	return base, m[1], log
}

// api calls the API with the demo key and decodes the JSON answer.
func api(t *testing.T, base, key, method, path string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+"/api/v1"+path, r)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// handoffToken signs a token for external id ext with the HS256 secret,
// as the host application's "Manage my privacy" link would.
func handoffToken(t *testing.T, secret, aud, ext string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(s).Claims(jwt.Claims{Issuer: "printfarm", Audience: jwt.Audience{aud}, Subject: ext,
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(2 * time.Minute)), ID: jti(t)}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestJourneyPortal walks the data subject's journey in headless Chromium
// through the real server: arrive by hand-off from the host application,
// accept the notices, see My data, download the export (the ZIP is opened
// and every category checked against what the API returns), grant and
// withdraw a purpose, object to direct marketing, accept a re-published
// material notice, sign out, and sign in again with a code mailed over
// SMTP. Every page is checked with axe-core (0 WCAG 2.1 AA violations),
// for CSP violations and overflow, with screenshots.
func TestJourneyPortal(t *testing.T) {
	uitest.ExecPath(t)
	mb, smtpAddr := startMailbox(t)
	dir := t.TempDir()
	const publicURL = "http://privacy.test"
	gdprd(t, "keys", "init", "--data", dir)
	secret := strings.TrimSpace(gdprd(t, "handoff", "create", "--data", dir, "--public-url", publicURL, "--app", "printfarm", "--alg", "hs256"))
	base, key, log := demo(t, "--data", dir, "--public-url", publicURL, "--smtp-url", "smtp://"+smtpAddr+"?starttls=opportunistic")
	// A legitimate-interest direct-marketing purpose, through the API.
	if st := api(t, base, key, "POST", "/purposes", map[string]any{
		"slug": "postal-offers", "names": map[string]string{"en": "Offers by post", "de": "Angebote per Post"},
		"descriptions": map[string]string{"en": "We send you a printed catalogue twice a year.", "de": "Wir senden Ihnen zweimal im Jahr einen gedruckten Katalog."},
		"legal_basis":  "legitimate-interest", "direct_marketing": true, "categories": []string{"contact"}, "retention": "P1Y",
	}, nil); st != http.StatusCreated {
		t.Fatalf("create purpose: %d", st)
	}
	shots := filepath.Join(uitest.OutputDir(t), "portal")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	browser := uitest.NewBrowser(t)
	tab := browser.NewTab(t)

	// Arrive from the host application: the token leaves the address bar.
	tok := handoffToken(t, secret, publicURL+"/privacy", "pf-user-1000")
	if st := tab.Open(t, base+"/privacy/handoff?token="+url.QueryEscape(tok)); st != http.StatusOK {
		t.Fatalf("hand-off: %d", st)
	}
	if loc := tab.Location(t); loc != base+"/privacy/" {
		t.Fatalf("after hand-off the address is %q", loc)
	}
	if got := tab.Text(t, "h1"); got != "My data" {
		t.Fatalf("after hand-off: %q", got)
	}
	// The demo's notices were published as material: never accepted,
	// they are all asked for.
	if n := uitest.Eval[int](t, tab, `document.querySelectorAll("#reaccept .reaccept").length`); n != 4 {
		t.Fatalf("%d notices to accept, want 4", n)
	}
	tab.CheckPage(t, shots, "home-notices")
	for i := 0; i < 4; i++ {
		tick(t, tab, "#reaccept .reaccept input[type=checkbox]")
		tab.Click(t, "#reaccept .reaccept button")
		if got := tab.Text(t, "#done"); !strings.Contains(got, "acceptance is recorded") {
			t.Fatalf("accepting notice %d: %q", i+1, got)
		}
	}
	if uitest.Eval[bool](t, tab, `!!document.querySelector("#reaccept")`) {
		t.Fatal("notices still asked for after accepting all")
	}

	// My data.
	tab.Click(t, `.console-nav a[href="/privacy/"]`)
	if got := tab.Text(t, "#account"); !strings.Contains(got, "ada.lovelace@example.org") || !strings.Contains(got, "pf-user-1000") {
		t.Fatalf("account table: %q", got)
	}
	if got := tab.Text(t, "#category-contact"); !strings.Contains(got, "Ada Lovelace") || !strings.Contains(got, "city") {
		t.Fatalf("contact category: %q", got)
	}
	if got := tab.Text(t, "#signed-in-by"); !strings.Contains(got, "through our application") {
		t.Fatalf("level: %q", got)
	}
	tab.CheckPage(t, shots, "home")

	// Correct my data: the name at once, the VAT id through staff.
	tab.Click(t, `.console-nav a[href="/privacy/correct"]`)
	if got := tab.Text(t, "h1"); got != "Correct my data" {
		t.Fatalf("correct page: %q", got)
	}
	tab.CheckPage(t, shots, "correct")
	tab.Fill(t, `[id="set-contact.name"]`, "Augusta Ada King")
	tab.Fill(t, `[id="ask-billing.vat_id"]`, "DE123456789")
	tab.Click(t, "#correct button")
	if got := tab.Text(t, "#changed"); got != "contact.name" {
		t.Fatalf("changed: %q", got)
	}
	if got := tab.Text(t, "#request"); !strings.Contains(got, "req_") || !strings.Contains(got, "at the latest") {
		t.Fatalf("request: %q", got)
	}
	if got := uitest.Eval[string](t, tab, `document.querySelector('[id="set-contact.name"]').value`); got != "Augusta Ada King" {
		t.Fatalf("name after the correction: %q", got)
	}
	tab.CheckPage(t, shots, "correct-done")
	tab.Click(t, `.console-nav a[href="/privacy/"]`)

	// Request my data: the browser posts the form and gets the ZIP.
	zipPath := tab.Download(t, "#export form button")
	if !strings.HasPrefix(filepath.Base(zipPath), "personal-data-") || !strings.HasSuffix(zipPath, ".zip") {
		t.Fatalf("downloaded %s", filepath.Base(zipPath))
	}
	raw, err := os.ReadFile(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	z, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range z.File {
		r, _ := f.Open()
		files[f.Name], _ = io.ReadAll(r)
		r.Close()
	}
	var pkg struct {
		Subject struct{ ID string }
		Data    map[string]json.RawMessage
	}
	if err := json.Unmarshal(files["data.json"], &pkg); err != nil {
		t.Fatalf("data.json: %v", err)
	}
	var stored struct{ Data map[string]json.RawMessage }
	if st := api(t, base, key, "GET", "/subjects/"+pkg.Subject.ID, nil, &stored); st != http.StatusOK {
		t.Fatalf("API read: %d", st)
	}
	if len(stored.Data) == 0 || len(stored.Data) != len(pkg.Data) {
		t.Fatalf("%d categories exported, %d stored", len(pkg.Data), len(stored.Data))
	}
	for cat, v := range stored.Data {
		if !jsonEqual(v, pkg.Data[cat]) {
			t.Errorf("category %s: exported %s, stored %s", cat, pkg.Data[cat], v)
		}
		if _, ok := files["categories/"+cat+".csv"]; !ok {
			t.Errorf("no CSV for %s", cat)
		}
	}

	// Privacy choices: grant and withdraw the newsletter, object to
	// postal offers.
	tab.Click(t, `.console-nav a[href="/privacy/choices"]`)
	if got := tab.Text(t, "h1"); got != "Privacy choices" {
		t.Fatalf("choices: %q", got)
	}
	for _, slug := range []string{"newsletter", "product-analytics", "partner-offers"} {
		if st := uitest.Eval[string](t, tab, `document.querySelector("#purpose-`+slug+` .state").dataset.state`); st != "not-granted" {
			t.Errorf("%s starts %q", slug, st)
		}
	}
	tab.CheckPage(t, shots, "choices")
	tab.Click(t, `#purpose-newsletter button[value=grant]`)
	if got := tab.Text(t, "#purpose-newsletter .state"); !strings.Contains(got, "you gave consent") {
		t.Fatalf("after grant: %q", got)
	}
	tab.CheckPage(t, shots, "choices-granted")
	rb, err := os.ReadFile(tab.Download(t, "#purpose-newsletter a[download]"))
	var receipt struct{ Receipt string }
	if err != nil || json.Unmarshal(rb, &receipt) != nil || strings.Count(receipt.Receipt, ".") != 2 {
		t.Fatalf("receipt %.60q (%v)", rb, err)
	}
	tab.Click(t, `#purpose-newsletter button[value=withdraw]`)
	if got := tab.Text(t, "#purpose-newsletter .state"); !strings.Contains(got, "no consent given") {
		t.Fatalf("after withdrawal: %q", got)
	}
	tab.Click(t, `#purpose-postal-offers button[value=object]`)
	if got := tab.Text(t, "#purpose-postal-offers"); !strings.Contains(got, "took effect at once") {
		t.Fatalf("after objection: %q", got)
	}
	if got := tab.Text(t, "#history"); !strings.Contains(got, "Consent given") || !strings.Contains(got, "Consent withdrawn") || !strings.Contains(got, "Objection") {
		t.Fatalf("history: %q", got)
	}
	tab.CheckPage(t, shots, "choices-history")
	var check struct{ Allowed bool }
	api(t, base, key, "GET", "/subjects/"+pkg.Subject.ID+"/consents/postal-offers", nil, &check)
	if check.Allowed {
		t.Fatal("the host application still may use postal offers after the objection")
	}

	// A material change to the privacy policy, published through the API:
	// the next page asks for it, with what changed.
	var draft struct{ Version int }
	if st := api(t, base, key, "POST", "/notices/privacy-policy/versions", map[string]any{
		"body": "# Privacy Policy\n\nWe now also share your address with our print-shipping partner.", "effective_at": time.Now().UTC().Format(time.DateOnly),
		"summary": "We now share your address with a shipping partner.", "material": true}, &draft); st != http.StatusCreated {
		t.Fatalf("draft: %d", st)
	}
	if st := api(t, base, key, "POST", "/notices/privacy-policy/versions/"+itoa(draft.Version)+"/publish", nil, nil); st != http.StatusOK {
		t.Fatalf("publish: %d", st)
	}
	tab.Open(t, base+"/privacy/")
	if got := tab.Text(t, "#notice-privacy-policy"); !strings.Contains(got, "shipping partner") || !strings.Contains(got, "See exactly what changed") {
		t.Fatalf("re-acceptance: %q", got)
	}
	tab.CheckPage(t, shots, "reaccept")
	diff := uitest.Eval[string](t, tab, `document.querySelector("#notice-privacy-policy a[href*='/diff/']").getAttribute("href")`)
	if !strings.HasPrefix(diff, "/policies/privacy-policy/diff/") {
		t.Fatalf("diff link %q", diff)
	}
	tick(t, tab, "#notice-privacy-policy input[type=checkbox]")
	tab.Click(t, "#notice-privacy-policy button")
	var notices struct {
		NeedsReacceptance bool `json:"needs_reacceptance"`
	}
	if api(t, base, key, "GET", "/subjects/"+pkg.Subject.ID+"/notices", nil, &notices); notices.NeedsReacceptance {
		t.Fatal("the host application still sees needs_reacceptance")
	}
	if uitest.Eval[bool](t, tab, `!!document.querySelector("#reaccept")`) {
		t.Fatal("still asked after accepting")
	}

	// German.
	tab.Open(t, base+"/privacy/choices?lang=de")
	if got := tab.Text(t, "h1"); got != "Datenschutz-Einstellungen" {
		t.Fatalf("German choices: %q", got)
	}
	tab.CheckPage(t, shots, "choices-de")

	// Sign out, then in with a code mailed over SMTP.
	tab.Open(t, base+"/privacy/")
	tab.Click(t, `form[action="/privacy/signout"] button`)
	if got := tab.Text(t, "#signed-out"); got == "" {
		t.Fatal("no sign-out confirmation")
	}
	tab.CheckPage(t, shots, "signin")
	if st := tab.Open(t, base+"/privacy/"); st != http.StatusOK || tab.Text(t, "h1") != "Sign in to your privacy page" {
		t.Fatalf("home after sign-out: %d %q", st, tab.Text(t, "h1"))
	}
	sent := mb.count()
	tab.Fill(t, "#email", "ada.lovelace@example.org")
	tab.Click(t, "main form button")
	if got := tab.Text(t, "h1"); got != "Enter your code" {
		t.Fatalf("after the address: %q", got)
	}
	tab.CheckPage(t, shots, "code")
	code := mb.code(t, sent)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	tab.Fill(t, "#code", wrong)
	tab.Click(t, "main form button")
	if got := tab.Text(t, ".form-error"); !strings.Contains(got, "wrong or has expired") {
		t.Fatalf("wrong code: %q", got)
	}
	tab.CheckPage(t, shots, "code-wrong")
	tab.Fill(t, "#code", code)
	tab.Click(t, "main form button")
	if got := tab.Text(t, "h1"); got != "My data" {
		t.Fatalf("after the code: %q", got)
	}
	if got := tab.Text(t, "#signed-in-by"); !strings.Contains(got, "code sent to your e-mail") {
		t.Fatalf("level after the code: %q", got)
	}

	// A replayed hand-off token: a clear page, no session (own tab: the
	// 401 document is a console error in Chromium).
	other := uitest.NewBrowser(t).NewTab(t)
	if st := other.Open(t, base+"/privacy/handoff?token="+url.QueryEscape(tok)); st != http.StatusUnauthorized {
		t.Fatalf("replayed token: %d", st)
	}
	if got := other.Text(t, "h1"); got != "This link does not work" {
		t.Fatalf("replayed token page: %q", got)
	}
	for _, v := range other.Axe(t, uitest.WCAG21AA()) {
		t.Errorf("hand-off refusal: axe: %s", v)
	}
	for _, v := range other.CSPViolations(t) {
		t.Errorf("hand-off refusal: CSP: %s", v)
	}
	other.Screenshot(t, shots, "handoff-refused")
	if slices.Contains(other.Cookies(t, base), "__Host-gdprd-session") {
		t.Fatal("a replayed token left a session cookie")
	}

	if strings.Contains(log.String(), tok[len(tok)-20:]) {
		t.Error("the hand-off token reached the server log")
	}

	// Without JavaScript the sign-in works too.
	nojs := uitest.NewBrowser(t).NewTab(t)
	nojs.DisableScripts(t)
	nojs.Open(t, base+"/privacy/signin")
	nojs.Fill(t, "#email", "grace.hopper@example.org")
	nojs.Click(t, "main form button")
	if got := nojs.Text(t, "h1"); got != "Enter your code" {
		t.Fatalf("without JavaScript: %q", got)
	}
}

// tick ticks a checkbox as a click would (Click waits for a page load).
func tick(t *testing.T, tab *uitest.Tab, selector string) {
	t.Helper()
	if !uitest.Eval[bool](t, tab, `(() => { const c = document.querySelector("`+selector+`"); c.click(); return c.checked; })()`) {
		t.Fatalf("%s is not ticked", selector)
	}
}

// jsonEqual compares two JSON values by meaning.
func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}
