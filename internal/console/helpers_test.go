package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/console"
	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/receipt"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
	"github.com/gdprd/gdprd/internal/web"
	"github.com/gdprd/gdprd/internal/webhook"
)

const testPassword = "correct horse battery staple 42"

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a console on a real database behind a real HTTP server.
type env struct {
	db       *sqlstore.DB
	clock    *clock
	staff    *auth.Staff
	sessions *auth.Sessions
	srv      *console.Server
	url      string
	vault    *vault.Vault
	dsr      *dsr.Service
	eraser   *dsr.Eraser
	signer   *receipt.Signer
	consent  *consent.Register
	webhooks *webhook.Service
	passkeys *auth.Passkeys
	seq      atomic.Int64
}

// passkeyOrigin is the console's public URL in handler tests: the origin
// WebAuthn answers must name.
const passkeyOrigin = "http://console.test"

type envOptions struct {
	engine sqlstore.Engine
	params keys.PasswordParams
	limits auth.Limits
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	db := sqltest.Open(t, o.engine, "main")
	kr, err := keys.NewKeyring([]byte(strings.Repeat("c", 32)))
	if err != nil {
		t.Fatal(err)
	}
	if o.params == (keys.PasswordParams{}) {
		o.params = keys.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	}
	c := &clock{now: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)}
	st, err := auth.NewStaff(auth.StaffOptions{DB: db, Keys: kr, Audit: audit.New(audit.Options{Clock: c.Now}), Clock: c.Now, Password: o.params, Limits: o.limits})
	if err != nil {
		t.Fatal(err)
	}
	sess := auth.NewSessions(db, kr, c.Now, nil)
	ctx := context.Background()
	ks, err := vault.OpenKeyStore(ctx, sqltest.Open(t, o.engine, "keys"), kr, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(audit.Options{Clock: c.Now, Signer: kr, KeyID: keys.CheckpointKeyID(kr.CheckpointPublicKey())})
	v, err := vault.New(ctx, vault.Options{DB: db, KeyStore: ks, Keyring: kr, Audit: log, Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	requests, err := dsr.New(dsr.Options{DB: db, Audit: log, Sealer: v, Targets: kr, Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := receipt.NewSigner(kr)
	if err != nil {
		t.Fatal(err)
	}
	eraser, err := dsr.NewEraser(ctx, dsr.ErasureOptions{DB: db, Audit: log, Vault: v, Targets: kr, Signer: signer,
		Policy: dsr.DefaultErasurePolicy(), Requests: requests, Issuer: "Example GmbH", Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := consent.New(consent.Options{DB: db, Audit: log, Sealer: v, Targets: kr, Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := webhook.New(webhook.Options{DB: db, Keyring: kr, Audit: log, Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := auth.NewPasskeys(st, passkeyOrigin, "gdprd test")
	if err != nil {
		t.Fatal(err)
	}
	srv := console.New(console.Options{Staff: st, Sessions: sess, Clock: c.Now, PublicURL: passkeyOrigin,
		Requests: requests, Eraser: eraser, Consent: reg, Webhooks: hooks, Passkeys: pk})
	hs := httptest.NewServer(srv.Handler(nil))
	t.Cleanup(hs.Close)
	return &env{db: db, clock: c, staff: st, sessions: sess, srv: srv, url: hs.URL, vault: v, dsr: requests, eraser: eraser, signer: signer, consent: reg, webhooks: hooks, passkeys: pk}
}

// subject creates a person with a little data in each of cats.
func (e *env) subject(t testing.TB, cats ...string) string {
	t.Helper()
	data := map[string]json.RawMessage{}
	for _, c := range cats {
		data[c] = json.RawMessage(`{"note":"` + c + ` data"}`)
	}
	n := e.seq.Add(1)
	s, err := e.vault.Create(context.Background(), vault.Actor{Name: "system", Purpose: "service-delivery"},
		vault.NewSubject{ExternalID: fmt.Sprintf("cust-%d", n), Email: fmt.Sprintf("p%d@example.org", n), Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// submit enters a request for subjectID as the host application would.
func (e *env) submit(t testing.TB, subjectID string, kind dsr.Kind, d dsr.Details) dsr.Request {
	t.Helper()
	s, err := e.dsr.Submit(context.Background(), dsr.Actor{Name: "apikey:ak_host", Purpose: "dsr"},
		dsr.NewRequest{SubjectID: subjectID, Kind: kind, Channel: dsr.API, Details: d})
	if err != nil {
		t.Fatal(err)
	}
	return s.Request
}

// awaitingApproval makes an erasure request of contact and security data
// and carries it out: contact is erased, security waits for approval.
func (e *env) awaitingApproval(t testing.TB) (subjectID string, r dsr.Request, erasureID string) {
	t.Helper()
	ctx := context.Background()
	subjectID = e.subject(t, "contact", "security")
	r = e.submit(t, subjectID, dsr.Erasure, dsr.Details{Categories: []string{"contact", "security"}})
	sys := dsr.Actor{Name: "staff:setup", Purpose: "dsr"}
	if _, err := e.dsr.Transition(ctx, sys, r.ID, dsr.InProgress, dsr.Reason{}); err != nil {
		t.Fatal(err)
	}
	res, r, err := e.eraser.ExecuteRequest(ctx, e.dsr, sys, r.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != dsr.AwaitingApproval {
		t.Fatalf("erasure request is %s, want awaiting approval", r.State)
	}
	return subjectID, r, res.ID
}

func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type member struct {
	id, email, secret string
	recovery          []string
}

// enrolled creates an enrolled member directly in the store.
func (e *env) enrolled(t testing.TB, email string, role auth.Role) member {
	t.Helper()
	ctx := context.Background()
	m, token, err := e.staff.Create(ctx, email, role, "operator:test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.staff.StartEnrolment(ctx, token); err != nil {
		t.Fatal(err)
	}
	k, _ := auth.NewTOTP("gdprd", email)
	hash, err := e.staff.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := e.staff.CompleteEnrolment(ctx, m.ID, hash, k.Secret, totpCode(t, k.Secret, e.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return member{id: m.ID, email: email, secret: k.Secret, recovery: codes}
}

// session makes a signed-in session of m directly in the store.
func (e *env) session(t testing.TB, id string, fresh bool) string {
	t.Helper()
	tok, err := e.sessions.Create(context.Background(), auth.NewSession{Kind: auth.SessionStaff, Principal: id, Level: auth.LevelMFA, Fresh: fresh})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// client is a browser stand-in: it keeps the session cookie by hand
// (net/http/cookiejar sends Secure cookies only over https) and never
// follows redirects, so tests see each answer.
type client struct {
	t      testing.TB
	base   string
	cookie string
	header http.Header // extra request headers
}

func (e *env) client(t testing.TB) *client { return &client{t: t, base: e.url} }

type answer struct {
	status int
	body   string
	header http.Header
	took   time.Duration
}

func (c *client) do(method, path string, form url.Values) answer {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: web.SessionCookieName, Value: c.cookie})
	}
	start := time.Now()
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	for _, ck := range resp.Cookies() {
		if ck.Name == web.SessionCookieName {
			c.cookie = ck.Value
			if ck.MaxAge < 0 {
				c.cookie = ""
			}
		}
	}
	return answer{status: resp.StatusCode, body: string(b), header: resp.Header, took: took}
}

func (c *client) get(path string) answer { return c.do(http.MethodGet, path, nil) }

func (c *client) post(path string, form url.Values) answer {
	return c.do(http.MethodPost, path, form)
}

// signIn walks both sign-in steps and fails the test if they do not lead
// to the dashboard.
func (e *env) signIn(t testing.TB, m member) *client {
	t.Helper()
	c := e.client(t)
	if a := c.post("/console/signin", url.Values{"email": {m.email}, "password": {testPassword}}); a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/signin/code" {
		t.Fatalf("password step: %d %s", a.status, a.header.Get("Location"))
	}
	e.clock.Add(30 * time.Second)
	if a := c.post("/console/signin/code", url.Values{"code": {totpCode(t, m.secret, e.clock.Now())}}); a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/" {
		t.Fatalf("code step: %d %s", a.status, a.header.Get("Location"))
	}
	return c
}

func (e *env) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.Read().QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
