package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

// TestCrossOriginPostRefused: a form posted from another site (what a CSRF
// attack is) is refused and changes nothing.
func TestCrossOriginPostRefused(t *testing.T) {
	en := newEnv(t, sqlstore.SQLite, 1000)
	id := en.person(t, "u-1", "ada@example.org", map[string]string{"contact": `{"name":"Ada"}`})
	c := en.handoffIn(t, "u-1")
	c.header.Set("Sec-Fetch-Site", "cross-site")
	c.header.Set("Origin", "https://evil.example")
	for _, path := range []string{"/privacy/choices/partner-offers", "/privacy/signout", "/privacy/export"} {
		if a := c.post(path, url.Values{"action": {"object"}}); a.status != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %d", path, a.status)
		}
	}
	if d, _ := en.consent.Check(t.Context(), id, "partner-offers"); !d.Allowed {
		t.Fatal("a cross-site post recorded an objection")
	}
	if n := en.count(t, "SELECT COUNT(*) FROM sessions WHERE kind = 'subject'"); n != 1 {
		t.Fatal("a cross-site post signed the person out")
	}
}

// TestOversizedFormRefused: a form over the limit is answered 413 and
// nothing is recorded.
func TestOversizedFormRefused(t *testing.T) {
	en := newEnv(t, sqlstore.SQLite, 1000)
	en.person(t, "u-1", "ada@example.org", map[string]string{"contact": `{"name":"Ada"}`})
	c := en.handoffIn(t, "u-1")
	big := url.Values{"action": {"object"}, "pad": {strings.Repeat("x", 64<<10)}}
	if a := c.post("/privacy/choices/partner-offers", big); a.status != http.StatusRequestEntityTooLarge || !strings.Contains(a.body, "Too much data") {
		t.Fatalf("oversized form: %d", a.status)
	}
	if n := en.count(t, "SELECT COUNT(*) FROM consent_records"); n != 0 {
		t.Fatalf("%d records after an oversized form", n)
	}
	if a := en.client(t).post("/privacy/signin", url.Values{"email": {strings.Repeat("a", 70<<10) + "@example.org"}}); a.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized sign-in: %d", a.status)
	}
}

// TestScriptsEscaped: what a person types is shown back escaped.
func TestScriptsEscaped(t *testing.T) {
	en := newEnv(t, sqlstore.SQLite, 1000)
	const evil = `"><script>alert(1)</script>@example.org`
	for _, path := range []string{"/privacy/signin", "/privacy/signin/code"} {
		a := en.client(t).post(path, url.Values{"email": {evil}, "code": {"<img src=x onerror=alert(1)>"}})
		if strings.Contains(a.body, "<script>alert") || strings.Contains(a.body, "<img src=x") {
			t.Fatalf("%s renders input unescaped:\n%s", path, a.body)
		}
		if !strings.Contains(a.body, "&lt;script&gt;") && path == "/privacy/signin" {
			t.Fatalf("%s does not echo the address escaped:\n%s", path, a.body)
		}
	}
}

// TestOtherPeopleUnreachable: the person is always the session's. A
// receipt id of someone else's record answers 404; no route takes a
// subject id; a staff session cookie is not a portal session.
func TestOtherPeopleUnreachable(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newEnv(t, e, 1000)
		en.person(t, "u-1", "ada@example.org", map[string]string{"contact": `{"name":"Ada"}`})
		bob := en.person(t, "u-2", "bob@example.org", map[string]string{"contact": `{"name":"Bob Other"}`})
		rec, err := en.consent.Record(t.Context(), consent.Actor{Name: "subject:" + bob, Purpose: "consent"}, consent.Request{
			SubjectID: bob, Kind: consent.Object, Purpose: "partner-offers", Channel: consent.Portal, Action: consent.Button})
		if err != nil {
			t.Fatal(err)
		}
		c := en.handoffIn(t, "u-1")
		if a := c.get("/privacy/receipts/" + rec.ID); a.status != http.StatusNotFound || strings.Contains(a.body, "Bob") {
			t.Fatalf("another person's receipt: %d", a.status)
		}
		for _, path := range []string{"/privacy/", "/privacy/choices", "/privacy/?subject=" + bob, "/privacy/choices?subject_id=" + bob} {
			if a := c.get(path); strings.Contains(a.body, "Bob Other") || strings.Contains(a.body, "bob@example.org") {
				t.Fatalf("%s shows another person's data", path)
			}
		}
		// A form naming another subject is ignored: the session decides.
		c.post("/privacy/choices/newsletter", url.Values{"action": {"withdraw"}, "subject_id": {bob}})
		if n := en.count(t, "SELECT COUNT(*) FROM consent_records WHERE subject_id = $1", bob); n != 1 {
			t.Fatalf("%d records for the other person", n)
		}
		// A staff session is not a subject session.
		staffTok, err := auth.NewSessions(en.db, en.kr, en.clock.Now, nil).Create(context.Background(),
			auth.NewSession{Kind: auth.SessionStaff, Principal: bob, Level: auth.LevelMFA})
		if err != nil {
			t.Fatal(err)
		}
		s := en.client(t)
		s.cookie = staffTok
		if a := s.get("/privacy/"); a.status != http.StatusSeeOther {
			t.Fatalf("a staff session opened the portal: %d", a.status)
		}
	})
}

// TestRoutesTakeNoSubjectID: no portal route has a path parameter that
// could name a person, and every route but sign-in needs a session.
func TestRoutesTakeNoSubjectID(t *testing.T) {
	en := newEnv(t, sqlstore.SQLite, 1000)
	public := map[string]bool{"GET /privacy/handoff": true, "GET /privacy/signin": true, "POST /privacy/signin": true,
		"GET /privacy/signin/code": true, "POST /privacy/signin/code": true}
	for _, rt := range en.srv.Routes() {
		if strings.Contains(rt.Pattern, "subject") || strings.Contains(rt.Pattern, "{id}") {
			t.Errorf("%s takes a subject id", rt.Pattern)
		}
		if !rt.SignedIn && !public[rt.Pattern] {
			t.Errorf("%s needs no session", rt.Pattern)
		}
	}
}

// TestErasedPersonSignedOut: when the person's account is erased while
// they are signed in, the next page ends the session.
func TestErasedPersonSignedOut(t *testing.T) {
	en := newEnv(t, sqlstore.SQLite, 1000)
	for i, path := range []string{"/privacy/", "/privacy/choices"} {
		ext := "u-" + itoa(i)
		id := en.person(t, ext, ext+"@example.org", map[string]string{"contact": `{"name":"Ada"}`})
		c := en.handoffIn(t, ext)
		if _, err := en.vault.Erase(t.Context(), vault.Actor{Name: "system", Purpose: "service-delivery"}, id); err != nil {
			t.Fatal(err)
		}
		a := c.get(path)
		if a.status != http.StatusSeeOther || a.header.Get("Location") != "/privacy/signin" || c.cookie != "" {
			t.Fatalf("%s after erasure: %d %q", path, a.status, a.header.Get("Location"))
		}
		if n := en.count(t, "SELECT COUNT(*) FROM sessions WHERE principal = $1", id); n != 0 {
			t.Fatalf("%d sessions left", n)
		}
	}
}
