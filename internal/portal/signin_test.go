package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// TestHandoffSignIn: a good token starts a session and redirects at once
// to the home page (the token leaves the address bar) with
// Referrer-Policy no-referrer; expired, replayed, forged, wrong-audience
// and unknown-person tokens all get the same non-revealing page, start no
// session, and are audited.
func TestHandoffSignIn(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newEnv(t, e, 1000)
		en.person(t, "u-1", "ada@example.org", map[string]string{"contact": `{"name":"Ada"}`})

		good := en.token(t, "u-1", nil)
		c := en.client(t)
		a := c.get("/privacy/handoff?token=" + url.QueryEscape(good))
		if a.status != http.StatusSeeOther || a.header.Get("Location") != "/privacy/" {
			t.Fatalf("good token: %d %q", a.status, a.header.Get("Location"))
		}
		if rp := a.header.Get("Referrer-Policy"); rp != "no-referrer" {
			t.Errorf("Referrer-Policy %q, want no-referrer", rp)
		}
		if a := c.get("/privacy/"); a.status != http.StatusOK || !strings.Contains(a.body, "Ada") {
			t.Fatalf("home after hand-off: %d", a.status)
		}
		if n := en.count(t, "SELECT COUNT(*) FROM sessions WHERE kind = 'subject' AND level = 'handoff'"); n != 1 {
			t.Fatalf("%d hand-off sessions", n)
		}

		forged := en.token(t, "u-1", nil)
		forged = forged[:len(forged)-3] + "AAA"
		for name, tok := range map[string]string{
			"replayed": good,
			"expired": en.token(t, "u-1", func(c *jwt.Claims) {
				c.IssuedAt = jwt.NewNumericDate(en.clock.Now().Add(-10 * time.Minute))
				c.Expiry = jwt.NewNumericDate(en.clock.Now().Add(-6 * time.Minute))
			}),
			"forged":         forged,
			"wrong audience": en.token(t, "u-1", func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://evil.example/privacy"} }),
			"unknown person": en.token(t, "u-404", nil),
			"garbage":        "not-a-token<script>",
			"empty":          "",
		} {
			t.Run(name, func(t *testing.T) {
				before := en.count(t, "SELECT COUNT(*) FROM sessions")
				audited := len(en.results(t, "subject.signin.handoff"))
				c := en.client(t)
				a := c.get("/privacy/handoff?token=" + url.QueryEscape(tok))
				if a.status != http.StatusUnauthorized || !strings.Contains(a.body, "This sign-in link is not valid or has expired") {
					t.Fatalf("%d\n%s", a.status, a.body)
				}
				if strings.Contains(a.body, "u-1") || strings.Contains(a.body, "<script>") {
					t.Fatal("the refusal echoes the token")
				}
				if c.cookie != "" || en.count(t, "SELECT COUNT(*) FROM sessions") != before {
					t.Fatal("a refused token started a session")
				}
				if len(en.results(t, "subject.signin.handoff")) != audited+1 {
					t.Fatal("the refusal was not audited")
				}
			})
		}
		res := en.results(t, "subject.signin.handoff")
		for _, want := range []string{"ok", "replayed", "expired", "bad_signature", "wrong_audience", "unknown_subject", "malformed"} {
			if !strings.Contains(strings.Join(res, ","), want) {
				t.Errorf("no audit result %q in %v", want, res)
			}
		}
	})
}

// TestEmailCodeSignIn: the code page answers the same for a known and an
// unknown address; a wrong code is refused with the same message as an
// expired one; the right code starts an email_code session; sign-out ends
// it.
func TestEmailCodeSignIn(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newEnv(t, e, 1000)
		en.person(t, "u-1", "ada@example.org", map[string]string{"contact": `{"name":"Ada"}`})
		c := en.client(t)
		known := c.post("/privacy/signin", url.Values{"email": {"ada@example.org"}})
		unknown := en.client(t).post("/privacy/signin", url.Values{"email": {"nobody@example.org"}})
		if known.status != http.StatusOK || unknown.status != http.StatusOK {
			t.Fatalf("code request: %d / %d", known.status, unknown.status)
		}
		strip := func(s string) string {
			return strings.NewReplacer("ada@example.org", "", "nobody@example.org", "").Replace(s)
		}
		if strip(known.body) != strip(unknown.body) {
			t.Fatal("the code page differs between a known and an unknown address")
		}
		if n := len(en.mails(t)); n != 1 {
			t.Fatalf("%d mails queued, want 1 (the known address only)", n)
		}
		code := en.lastCode(t)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		a := c.post("/privacy/signin/code", url.Values{"email": {"ada@example.org"}, "code": {wrong}})
		if a.status != http.StatusOK || !strings.Contains(a.body, "The code is wrong or has expired") || c.cookie != "" {
			t.Fatalf("wrong code: %d cookie %v", a.status, c.cookie != "")
		}
		// An expired code answers exactly the same.
		en.client(t).post("/privacy/signin", url.Values{"email": {"ada@example.org"}})
		expired := en.lastCode(t)
		en.clock.Add(11 * time.Minute)
		b := c.post("/privacy/signin/code", url.Values{"email": {"ada@example.org"}, "code": {expired}})
		if b.status != a.status || b.body != a.body || c.cookie != "" {
			t.Fatalf("expired code: %d, body differs from a wrong code's: %v", b.status, b.body != a.body)
		}
		c.post("/privacy/signin", url.Values{"email": {"ada@example.org"}})
		a = c.post("/privacy/signin/code", url.Values{"email": {"ada@example.org"}, "code": {en.lastCode(t)}})
		if a.status != http.StatusSeeOther || a.header.Get("Location") != "/privacy/" || c.cookie == "" {
			t.Fatalf("right code: %d %q", a.status, a.header.Get("Location"))
		}
		if a := c.get("/privacy/"); a.status != http.StatusOK || !strings.Contains(a.body, "with a code sent to your e-mail address") {
			t.Fatalf("home after code: %d", a.status)
		}
		a = c.post("/privacy/signout", url.Values{})
		if a.status != http.StatusSeeOther || c.cookie != "" {
			t.Fatalf("sign-out: %d", a.status)
		}
		if n := en.count(t, "SELECT COUNT(*) FROM sessions WHERE kind = 'subject'"); n != 0 {
			t.Fatalf("%d sessions after sign-out", n)
		}
		if a := c.get("/privacy/"); a.status != http.StatusSeeOther || a.header.Get("Location") != "/privacy/signin" {
			t.Fatalf("home after sign-out: %d %q", a.status, a.header.Get("Location"))
		}
		if got := en.results(t, "subject.signout"); len(got) != 1 || got[0] != "ok" {
			t.Fatalf("sign-out audit %v", got)
		}
	})
}

// TestSignInRateLimit: past the per-address limit the sign-in endpoints
// answer 429 with Retry-After and RateLimit headers, before any work.
func TestSignInRateLimit(t *testing.T) {
	en := newEnv(t, sqlstore.SQLite, 3)
	c := en.client(t)
	for i := 0; i < 3; i++ {
		if a := c.get("/privacy/handoff?token=x"); a.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, a.status)
		}
	}
	audited := len(en.results(t, "subject.signin.handoff"))
	for _, try := range []func() answer{
		func() answer { return c.get("/privacy/handoff?token=x") },
		func() answer { return c.post("/privacy/signin", url.Values{"email": {"a@example.org"}}) },
		func() answer {
			return c.post("/privacy/signin/code", url.Values{"email": {"a@example.org"}, "code": {"123456"}})
		},
	} {
		a := try()
		if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" || a.header.Get("RateLimit-Policy") == "" {
			t.Fatalf("over the limit: %d Retry-After %q", a.status, a.header.Get("Retry-After"))
		}
		if !strings.Contains(a.body, "Too many attempts") {
			t.Fatalf("429 page:\n%s", a.body)
		}
	}
	if len(en.results(t, "subject.signin.handoff")) != audited || len(en.mails(t)) != 0 {
		t.Fatal("a limited request still did the work")
	}
	en.clock.Add(time.Minute)
	if a := c.get("/privacy/handoff?token=x"); a.status != http.StatusUnauthorized {
		t.Fatalf("after a minute: %d", a.status)
	}
}
