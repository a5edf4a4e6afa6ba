package console_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/auth/passkeytest"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// registerPasskey registers a passkey on a for m through the console.
func (e *env) registerPasskey(t *testing.T, m member, a *passkeytest.Authenticator) {
	t.Helper()
	c := e.client(t)
	c.cookie = e.session(t, m.id, true)
	opts := c.post("/console/passkeys/options", url.Values{})
	if opts.status != http.StatusOK || !strings.HasPrefix(opts.header.Get("Content-Type"), "application/json") {
		t.Fatalf("options: %d %s", opts.status, opts.body)
	}
	resp, err := a.Create([]byte(opts.body))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.post("/console/passkeys", url.Values{"name": {"Laptop"}, "credential": {string(resp)}}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/console/passkeys?done=added" {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
}

// halfSignedIn gives the password of m and returns the client, its
// second factor pending.
func (e *env) halfSignedIn(t *testing.T, m member) *client {
	t.Helper()
	c := e.client(t)
	if a := c.post("/console/signin", url.Values{"email": {m.email}, "password": {testPassword}}); a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/signin/code" {
		t.Fatalf("password: %d %s", a.status, a.header.Get("Location"))
	}
	return c
}

func lastAudit(t *testing.T, e *env) string {
	t.Helper()
	var action, result string
	if err := e.db.Read().QueryRowContext(t.Context(), "SELECT action, result FROM audit_events ORDER BY seq DESC LIMIT 1").Scan(&action, &result); err != nil {
		t.Fatal(err)
	}
	return action + " " + result
}

func TestPasskeyRegisterAndSignIn(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
		e := newEnv(t, envOptions{engine: eng})
		m := e.enrolled(t, "ada@example.org", auth.RoleSupport)
		a := passkeytest.New(passkeyOrigin)

		// The page loads the script from this origin, says passkeys need
		// JavaScript, and keeps the form hidden for browsers without it.
		c := e.client(t)
		c.cookie = e.session(t, m.id, true)
		page := c.get("/console/passkeys")
		if page.status != http.StatusOK || !strings.Contains(page.body, `/passkey.`) || !strings.Contains(page.body, "data-passkey-nojs") ||
			!strings.Contains(page.body, `data-passkey="create"`) || strings.Contains(page.body, "<script>") {
			t.Fatalf("passkeys page: %d\n%s", page.status, page.body)
		}
		// Without a fresh second factor there are no options: the step-up
		// page answers instead, and the page links to it.
		stale := e.client(t)
		stale.cookie = e.session(t, m.id, false)
		if a := stale.post("/console/passkeys/options", url.Values{}); strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
			t.Fatalf("options without a fresh second factor: %d %s", a.status, a.body)
		}
		if p := stale.get("/console/passkeys"); !strings.Contains(p.body, "/console/stepup?next=/console/passkeys") || strings.Contains(p.body, `data-passkey="create"`) {
			t.Fatal("a stale session is offered the registration form")
		}
		// Without JavaScript the form posts no credential: refused, nothing stored.
		if r := c.post("/console/passkeys", url.Values{"name": {"Laptop"}}); r.status != http.StatusBadRequest || !strings.Contains(r.body, "JavaScript") {
			t.Fatalf("no credential: %d", r.status)
		}
		e.registerPasskey(t, m, a)
		if p := c.get("/console/passkeys"); !strings.Contains(p.body, "Laptop") {
			t.Fatal("passkey not listed")
		}

		// Sign in: password, then the passkey instead of the code.
		s := e.halfSignedIn(t, m)
		code := s.get("/console/signin/code")
		if !strings.Contains(code.body, `data-passkey="get"`) || !strings.Contains(code.body, `name="code"`) {
			t.Fatalf("code page offers no passkey or no code:\n%s", code.body)
		}
		opts := s.post("/console/signin/passkey/options", url.Values{})
		if opts.status != http.StatusOK {
			t.Fatalf("login options: %d", opts.status)
		}
		resp, err := a.Get([]byte(opts.body))
		if err != nil {
			t.Fatal(err)
		}
		if r := s.post("/console/signin/passkey", url.Values{"credential": {string(resp)}}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/console/" {
			t.Fatalf("passkey sign-in: %d %s", r.status, r.body)
		}
		if d := s.get("/console/"); d.status != http.StatusOK {
			t.Fatalf("dashboard after passkey: %d", d.status)
		}
		if got := lastAudit(t, e); !strings.HasPrefix(got, "staff.signin.passkey ok") {
			t.Fatalf("last audit event %q", got)
		}

		// A stale session steps up with the passkey instead of a code.
		stale = e.client(t)
		stale.cookie = e.session(t, m.id, false)
		if p := stale.get("/console/stepup?next=/console/passkeys"); !strings.Contains(p.body, `data-passkey="get"`) {
			t.Fatal("the step-up page offers no passkey")
		}
		opts = stale.post("/console/stepup/passkey/options", url.Values{})
		if opts.status != http.StatusOK {
			t.Fatalf("step-up options: %d", opts.status)
		}
		resp, err = a.Get([]byte(opts.body))
		if err != nil {
			t.Fatal(err)
		}
		if r := stale.post("/console/stepup/passkey", url.Values{"credential": {string(resp)}, "next": {"/console/passkeys"}}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/console/passkeys" {
			t.Fatalf("passkey step-up: %d %s", r.status, r.header.Get("Location"))
		}
		if p := stale.get("/console/passkeys"); !strings.Contains(p.body, `data-passkey="create"`) {
			t.Fatal("not fresh after a passkey step-up")
		}
		// A replayed step-up assertion does not make a session fresh.
		replay := e.client(t)
		replay.cookie = e.session(t, m.id, false)
		replay.post("/console/stepup/passkey/options", url.Values{})
		if r := replay.post("/console/stepup/passkey", url.Values{"credential": {string(resp)}, "next": {"/console/passkeys"}}); r.status != http.StatusOK || !strings.Contains(r.body, "passkey was not accepted") {
			t.Fatalf("replayed step-up: %d", r.status)
		}
		if p := replay.get("/console/passkeys"); strings.Contains(p.body, `data-passkey="create"`) {
			t.Fatal("fresh after a replayed step-up assertion")
		}

		// A member without a passkey is not offered one.
		o := e.enrolled(t, "bob@example.org", auth.RoleSupport)
		if p := e.halfSignedIn(t, o).get("/console/signin/code"); strings.Contains(p.body, "data-passkey") || strings.Contains(p.body, "passkey.") {
			t.Fatal("passkey offered to a member without one")
		}

		// Removal.
		var id string
		if err := e.db.Read().QueryRowContext(t.Context(), "SELECT id FROM staff_passkeys WHERE staff_id = $1", m.id).Scan(&id); err != nil {
			t.Fatal(err)
		}
		other := e.client(t)
		other.cookie = e.session(t, o.id, true)
		if r := other.post("/console/passkeys/"+id+"/remove", url.Values{}); r.status != http.StatusNotFound {
			t.Fatalf("another member removed it: %d", r.status)
		}
		if r := c.post("/console/passkeys/"+id+"/remove", url.Values{}); r.status != http.StatusSeeOther {
			t.Fatalf("remove: %d", r.status)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM staff_passkeys"); n != 0 {
			t.Fatalf("%d passkeys left", n)
		}
		if got := lastAudit(t, e); got != "staff.passkey.remove ok:"+id {
			t.Fatalf("last audit event %q", got)
		}
	})
}

// flip changes the last byte of a base64url field of a credential's
// response.
func flip(t *testing.T, resp []byte, field string) []byte {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(resp, &v); err != nil {
		t.Fatal(err)
	}
	r := v["response"].(map[string]any)
	b, err := base64.RawURLEncoding.DecodeString(r[field].(string))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	r[field] = base64.RawURLEncoding.EncodeToString(b)
	out, _ := json.Marshal(v)
	return out
}

func TestPasskeyBadInputRefusedAndAudited(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
		e := newEnv(t, envOptions{engine: eng})
		m := e.enrolled(t, "ada@example.org", auth.RoleSupport)
		a := passkeytest.New(passkeyOrigin)
		e.registerPasskey(t, m, a)
		o := e.enrolled(t, "bob@example.org", auth.RoleSupport)
		b := passkeytest.New(passkeyOrigin)
		e.registerPasskey(t, o, b)

		options := func(t *testing.T, c *client) []byte {
			t.Helper()
			r := c.post("/console/signin/passkey/options", url.Values{})
			if r.status != http.StatusOK {
				t.Fatalf("options: %d", r.status)
			}
			return []byte(r.body)
		}
		// A good assertion, used once, kept for the replays.
		first := e.halfSignedIn(t, m)
		good, _ := a.Get(options(t, first))
		firstCookie := first.cookie
		if r := first.post("/console/signin/passkey", url.Values{"credential": {string(good)}}); r.status != http.StatusSeeOther {
			t.Fatalf("good assertion: %d", r.status)
		}

		cases := []struct {
			name   string
			answer func(t *testing.T, c *client) []byte
			reason string
		}{
			{"replayed assertion", func(t *testing.T, c *client) []byte { options(t, c); return good }, "not_verified"},
			{"challenge used twice", func(t *testing.T, c *client) []byte {
				opts := options(t, c)
				r, _ := a.Get(opts)
				c.post("/console/signin/passkey", url.Values{"credential": {string(flip(t, r, "signature"))}})
				e.clock.Add(5 * time.Minute)
				return r // right for that challenge, which the first answer used up
			}, "no_challenge"},
			{"tampered signature", func(t *testing.T, c *client) []byte { r, _ := a.Get(options(t, c)); return flip(t, r, "signature") }, "not_verified"},
			{"tampered client data", func(t *testing.T, c *client) []byte {
				r, _ := a.Get(options(t, c))
				return flip(t, r, "clientDataJSON")
			}, "malformed"},
			{"another member's credential", func(t *testing.T, c *client) []byte { r, _ := b.GetWith(options(t, c), 0); return r }, "not_verified"},
			{"wrong origin", func(t *testing.T, c *client) []byte {
				opts := options(t, c)
				a.Origin = "https://console.example.invalid"
				defer func() { a.Origin = passkeyOrigin }()
				r, _ := a.Get(opts)
				return r
			}, "not_verified"},
			{"no credential (no JavaScript)", func(t *testing.T, c *client) []byte { options(t, c); return nil }, "malformed"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.clock.Add(5 * time.Minute) // failures add growing delays
				c := e.halfSignedIn(t, m)
				answer := tc.answer(t, c)
				r := c.post("/console/signin/passkey", url.Values{"credential": {string(answer)}})
				if r.status != http.StatusOK || !strings.Contains(r.body, "passkey was not accepted") {
					t.Fatalf("refusal: %d\n%s", r.status, r.body)
				}
				if d := c.get("/console/"); d.status != http.StatusSeeOther || d.header.Get("Location") != "/console/signin/code" {
					t.Fatalf("signed in after a refused passkey: %d %s", d.status, d.header.Get("Location"))
				}
				if got := lastAudit(t, e); got != "staff.signin.passkey failed:"+tc.reason {
					t.Fatalf("last audit event %q, want failed:%s", got, tc.reason)
				}
			})
		}
		// The first session's challenge is gone with it: its old cookie
		// posts nothing that counts.
		old := e.client(t)
		old.cookie = firstCookie
		if r := old.post("/console/signin/passkey", url.Values{"credential": {string(good)}}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/console/signin" {
			t.Fatalf("the rotated session's cookie: %d %s", r.status, r.header.Get("Location"))
		}

		// A registration answer naming another origin is refused and
		// audited; nothing is stored.
		e.clock.Add(5 * time.Minute)
		c := e.client(t)
		c.cookie = e.session(t, o.id, true)
		opts := c.post("/console/passkeys/options", url.Values{})
		b.Origin = "https://console.example.invalid"
		resp, _ := b.Create([]byte(opts.body))
		before := e.count(t, "SELECT COUNT(*) FROM staff_passkeys")
		if r := c.post("/console/passkeys", url.Values{"name": {"Phone"}, "credential": {string(resp)}}); r.status != http.StatusBadRequest || !strings.Contains(r.body, "could not be added") {
			t.Fatalf("wrong-origin registration: %d", r.status)
		}
		if e.count(t, "SELECT COUNT(*) FROM staff_passkeys") != before {
			t.Fatal("a refused registration stored a passkey")
		}
		if got := lastAudit(t, e); got != "staff.passkey.register failed:not_verified" {
			t.Fatalf("last audit event %q", got)
		}
	})
}
