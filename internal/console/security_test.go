package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/web"
)

// TestSessionCookieAndLifetime: the cookie's attributes, a new id at each
// sign-in step, and the idle and absolute limits on the injected clock.
func TestSessionCookieAndLifetime(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
		e := newEnv(t, envOptions{engine: eng})
		m := e.enrolled(t, "ada@example.org", auth.RoleOwner)
		c := e.client(t)
		a := c.post("/console/signin", url.Values{"email": {m.email}, "password": {testPassword}})
		raw := a.header.Get("Set-Cookie")
		for _, want := range []string{web.SessionCookieName + "=", "Path=/", "Secure", "HttpOnly", "SameSite=Lax"} {
			if !strings.Contains(raw, want) {
				t.Errorf("Set-Cookie %q lacks %s", raw, want)
			}
		}
		if strings.Contains(strings.ToLower(raw), "domain=") || strings.Contains(raw, "Max-Age") || strings.Contains(raw, "Expires") {
			t.Errorf("Set-Cookie %q has a domain or a lifetime", raw)
		}
		halfway := c.cookie
		if len(halfway) < 43 {
			t.Fatalf("session token %q shorter than 256 bits", halfway)
		}
		e.clock.Add(30 * time.Second)
		c.post("/console/signin/code", url.Values{"code": {totpCode(t, m.secret, e.clock.Now())}})
		if c.cookie == halfway || c.cookie == "" {
			t.Fatal("the session id did not change at sign-in")
		}
		old := e.client(t)
		old.cookie = halfway
		if a := old.get("/console/"); a.status != http.StatusSeeOther {
			t.Fatalf("the pre-sign-in id still works: %d", a.status)
		}
		if a := c.get("/console/"); a.status != http.StatusOK || !strings.Contains(a.body, "ada@example.org") {
			t.Fatalf("dashboard: %d", a.status)
		}
		// Idle: 29 minutes is fine, 30 is not.
		e.clock.Add(29 * time.Minute)
		if a := c.get("/console/"); a.status != http.StatusOK {
			t.Fatalf("after 29 idle minutes: %d", a.status)
		}
		e.clock.Add(30 * time.Minute)
		if a := c.get("/console/"); a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/signin" {
			t.Fatalf("after 30 idle minutes: %d", a.status)
		}
		// Absolute: busy all day, still out after 12 hours.
		c = e.signIn(t, m)
		for range 12*3 - 1 {
			e.clock.Add(20 * time.Minute)
			if a := c.get("/console/"); a.status != http.StatusOK {
				t.Fatalf("within 12 h: %d", a.status)
			}
		}
		e.clock.Add(20 * time.Minute)
		if a := c.get("/console/"); a.status != http.StatusSeeOther {
			t.Fatalf("after 12 h: %d", a.status)
		}
		// Sign out everywhere ends other devices too.
		e.clock.Add(time.Minute)
		one, two := e.signIn(t, m), e.signIn(t, m)
		if a := one.post("/console/signout/everywhere", url.Values{}); a.status != http.StatusSeeOther || one.cookie != "" {
			t.Fatalf("sign out everywhere: %d", a.status)
		}
		if a := two.get("/console/"); a.status != http.StatusSeeOther {
			t.Fatalf("other device still signed in: %d", a.status)
		}
	})
}

// TestCrossOriginPostRefused: a form posted from another site is refused
// before it reaches sign-in (nothing counted, nothing audited).
func TestCrossOriginPostRefused(t *testing.T) {
	e := newEnv(t, envOptions{engine: sqlstore.SQLite})
	m := e.enrolled(t, "ada@example.org", auth.RoleOwner)
	owner := e.signIn(t, m)
	before := e.count(t, "SELECT COUNT(*) FROM auth_attempts")
	staff := e.count(t, "SELECT COUNT(*) FROM staff")
	evil := e.client(t)
	evil.header = http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
	if a := evil.post("/console/signin", url.Values{"email": {m.email}, "password": {"x"}}); a.status != http.StatusForbidden {
		t.Fatalf("cross-site sign-in post: %d", a.status)
	}
	owner.header = evil.header
	if a := owner.post("/console/staff", url.Values{"email": {"mallory@example.org"}, "role": {"owner"}}); a.status != http.StatusForbidden {
		t.Fatalf("cross-site staff creation: %d", a.status)
	}
	if e.count(t, "SELECT COUNT(*) FROM auth_attempts") != before || e.count(t, "SELECT COUNT(*) FROM staff") != staff {
		t.Fatal("a cross-site post changed something")
	}
	owner.header = http.Header{"Origin": {e.url}, "Sec-Fetch-Site": {"same-origin"}}
	if a := owner.get("/console/staff"); a.status != http.StatusOK {
		t.Fatalf("same-origin: %d", a.status)
	}
}

// TestOversizedFormRefused: a form over the limit gets 413, nothing else.
func TestOversizedFormRefused(t *testing.T) {
	e := newEnv(t, envOptions{engine: sqlstore.SQLite})
	a := e.client(t).post("/console/signin", url.Values{"email": {"a@example.org"}, "password": {strings.Repeat("p", 20<<10)}})
	if a.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized form: %d", a.status)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM auth_attempts"); n != 0 {
		t.Fatalf("oversized form counted as an attempt: %d", n)
	}
}

// TestScriptRenderedEscaped: markup typed into a field comes back as text.
func TestScriptRenderedEscaped(t *testing.T) {
	e := newEnv(t, envOptions{engine: sqlstore.SQLite})
	owner := e.signIn(t, e.enrolled(t, "ada@example.org", auth.RoleOwner))
	const evil = `"><script>alert(1)</script>`
	for _, a := range []answer{
		e.client(t).post("/console/signin", url.Values{"email": {evil}, "password": {"x"}}),
		owner.post("/console/staff", url.Values{"email": {evil}, "role": {"support"}}),
	} {
		if a.status >= 500 || strings.Contains(a.body, "<script>alert(1)") {
			t.Fatalf("status %d, script echoed raw", a.status)
		}
		if !strings.Contains(a.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Fatalf("input not echoed escaped:\n%s", a.body)
		}
	}
}

// TestReplayedCodeRefused: a TOTP code that signed in once does not sign
// in again, within its window, even in a new sign-in.
func TestReplayedCodeRefused(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
		e := newEnv(t, envOptions{engine: eng})
		m := e.enrolled(t, "ada@example.org", auth.RoleOwner)
		e.clock.Add(30 * time.Second)
		code := totpCode(t, m.secret, e.clock.Now())
		for i, want := range []int{http.StatusSeeOther, http.StatusOK} {
			c := e.client(t)
			c.post("/console/signin", url.Values{"email": {m.email}, "password": {testPassword}})
			a := c.post("/console/signin/code", url.Values{"code": {code}})
			if a.status != want {
				t.Fatalf("use %d of one code: %d", i+1, a.status)
			}
			if i == 1 && !strings.Contains(a.body, "only once") {
				t.Fatal("the replay was not answered as a wrong code")
			}
		}
	})
}

// TestStepUpForSensitiveActions: creating staff needs a second factor
// given within 5 minutes; an older one gets the prompt, and nothing is
// created until the code is given.
func TestStepUpForSensitiveActions(t *testing.T) {
	e := newEnv(t, envOptions{engine: sqlstore.SQLite})
	m := e.enrolled(t, "ada@example.org", auth.RoleOwner)
	c := e.signIn(t, m)
	e.clock.Add(6 * time.Minute)
	before := e.count(t, "SELECT COUNT(*) FROM staff")
	a := c.post("/console/staff", url.Values{"email": {"sam@example.org"}, "role": {"support"}})
	if !strings.Contains(a.body, `action="/console/stepup"`) || e.count(t, "SELECT COUNT(*) FROM staff") != before {
		t.Fatalf("stale factor: %d, created or not prompted", a.status)
	}
	id := c.cookie
	e.clock.Add(30 * time.Second)
	if a := c.post("/console/stepup", url.Values{"code": {totpCode(t, m.secret, e.clock.Now())}, "next": {"/console/staff"}}); a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/staff" {
		t.Fatalf("step-up: %d %s", a.status, a.header.Get("Location"))
	}
	if c.cookie == id {
		t.Fatal("no new session id at step-up")
	}
	a = c.post("/console/staff", url.Values{"email": {"sam@example.org"}, "role": {"support"}})
	if a.status != http.StatusOK || !strings.Contains(a.body, "http://console.test/console/enrol/") {
		t.Fatalf("create after step-up: %d", a.status)
	}
	if a := c.post("/console/stepup", url.Values{"code": {"1"}, "next": {"https://evil.example/"}}); a.status != http.StatusOK {
		t.Fatalf("bad step-up code: %d", a.status)
	}
}

// TestLockoutLooksLikeWrongCode: 25 wrong codes in a row over HTTP; the
// delays in between are 429 with Retry-After and RateLimit headers; from
// the lock on, even the right code gets the wrong-code page, byte for
// byte.
func TestLockoutLooksLikeWrongCode(t *testing.T) {
	e := newEnv(t, envOptions{engine: sqlstore.SQLite})
	m := e.enrolled(t, "ada@example.org", auth.RoleOwner)
	c := e.client(t)
	c.post("/console/signin", url.Values{"email": {m.email}, "password": {testPassword}})
	var wrong answer
	limited := 0
	for i := range 25 {
		for {
			a := c.post("/console/signin/code", url.Values{"code": {"000000"}})
			if a.status == http.StatusTooManyRequests {
				limited++
				ra := a.header.Get("Retry-After")
				if ra == "" || a.header.Get("RateLimit") == "" || a.header.Get("RateLimit-Policy") == "" {
					t.Fatalf("429 without Retry-After/RateLimit headers: %v", a.header)
				}
				d, _ := time.ParseDuration(ra + "s")
				e.clock.Add(d)
				continue
			}
			if a.status != http.StatusOK {
				t.Fatalf("wrong code %d: %d", i, a.status)
			}
			if i == 0 {
				wrong = a
			} else if a.body != wrong.body {
				t.Fatalf("wrong code %d answered differently", i)
			}
			break
		}
		e.clock.Add(time.Second)
	}
	if limited == 0 {
		t.Fatal("no growing delay before the lock")
	}
	e.clock.Add(30 * time.Second)
	a := c.post("/console/signin/code", url.Values{"code": {totpCode(t, m.secret, e.clock.Now())}})
	if a.status != wrong.status || a.body != wrong.body {
		t.Fatalf("locked account with the right code: %d, body differs: %v", a.status, a.body != wrong.body)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM audit_events WHERE action = 'staff.lockout'"); n != 1 {
		t.Fatalf("lockout audited %d times", n)
	}
	// Locked for the hour: still locked 50 minutes later.
	e.clock.Add(50 * time.Minute)
	fresh := e.client(t)
	if a := fresh.post("/console/signin", url.Values{"email": {m.email}, "password": {testPassword}}); a.status != http.StatusOK || !strings.Contains(a.body, "not correct") {
		t.Fatalf("locked account signed in with its password: %d", a.status)
	}
}
