package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/console"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/web"
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
}

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
	srv := console.New(console.Options{Staff: st, Sessions: sess, Clock: c.Now, PublicURL: "http://console.test"})
	hs := httptest.NewServer(srv.Handler(nil))
	t.Cleanup(hs.Close)
	return &env{db: db, clock: c, staff: st, sessions: sess, srv: srv, url: hs.URL}
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
