package console_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/console"
	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// expectedAccess is the test's own copy of who may use each signed-in
// route, written independently of the route table: a route added to the
// table without an entry here, or a table entry that grants more than
// this, fails the test.
var expectedAccess = map[string][]auth.Role{
	"GET /console/{$}":                     auth.AllRoles,
	"GET /console/stepup":                  auth.AllRoles,
	"POST /console/stepup":                 auth.AllRoles,
	"POST /console/stepup/passkey/options": auth.AllRoles,
	"POST /console/stepup/passkey":         auth.AllRoles,
	"POST /console/signout":                auth.AllRoles,
	"POST /console/signout/everywhere":     auth.AllRoles,
	// Passkeys: each member manages their own second factors.
	"GET /console/passkeys":              auth.AllRoles,
	"POST /console/passkeys/options":     auth.AllRoles,
	"POST /console/passkeys":             auth.AllRoles,
	"POST /console/passkeys/{id}/remove": auth.AllRoles,
	"GET /console/staff":                 {auth.RoleOwner},
	"POST /console/staff":                {auth.RoleOwner},
	"POST /console/staff/{id}/role":      {auth.RoleOwner},
	// Requests and erasures: everyone reads, the auditor changes nothing.
	"GET /console/requests":                  auth.AllRoles,
	"GET /console/requests/{id}":             auth.AllRoles,
	"GET /console/requests/new":              {auth.RoleOwner, auth.RoleDPO, auth.RoleSupport},
	"POST /console/requests":                 {auth.RoleOwner, auth.RoleDPO, auth.RoleSupport},
	"POST /console/requests/{id}/transition": {auth.RoleOwner, auth.RoleDPO, auth.RoleSupport},
	"POST /console/requests/{id}/extend":     {auth.RoleOwner, auth.RoleDPO, auth.RoleSupport},
	"POST /console/requests/{id}/assign":     {auth.RoleOwner, auth.RoleDPO, auth.RoleSupport},
	"POST /console/requests/{id}/erase":      {auth.RoleOwner, auth.RoleDPO, auth.RoleSupport},
	"POST /console/requests/{id}/notes":      {auth.RoleOwner, auth.RoleDPO, auth.RoleSupport},
	// Consent: everyone reads and searches; owners and DPOs manage
	// purposes and notices and export the register.
	"GET /console/consent/purposes":                          auth.AllRoles,
	"GET /console/consent/purposes/{slug}":                   {auth.RoleOwner, auth.RoleDPO},
	"POST /console/consent/purposes/{slug}":                  {auth.RoleOwner, auth.RoleDPO},
	"GET /console/consent/notices":                           auth.AllRoles,
	"GET /console/consent/notices/{slug}":                    auth.AllRoles,
	"POST /console/consent/notices/{slug}/draft":             {auth.RoleOwner, auth.RoleDPO},
	"POST /console/consent/notices/{slug}/{version}/publish": {auth.RoleOwner, auth.RoleDPO},
	"GET /console/consent/register":                          auth.AllRoles,
	"POST /console/consent/register":                         auth.AllRoles,
	"POST /console/consent/register.csv":                     {auth.RoleOwner, auth.RoleDPO},
	"GET /console/consent/figures":                           auth.AllRoles,
	"GET /console/webhooks":                                  auth.AllRoles,
	"POST /console/webhooks":                                 {auth.RoleOwner},
	"POST /console/webhooks/{id}/disable":                    {auth.RoleOwner},
	"GET /console/erasures":                                  auth.AllRoles,
	"GET /console/erasures/{id}":                             auth.AllRoles,
	"POST /console/erasures/{id}/{category}":                 {auth.RoleOwner, auth.RoleDPO, auth.RoleSupport},
}

// TestRouteRoleMatrix enumerates every console route from the route table
// and calls it as anonymous, as a half-signed-in session and as each role
// (with a fresh second factor, so only the role decides): 0 unauthorised
// successes, and no write when refused.
func TestRouteRoleMatrix(t *testing.T) {
	e := newEnv(t, envOptions{engine: sqlstore.SQLite})
	members := map[auth.Role]member{}
	for _, r := range auth.AllRoles {
		members[r] = e.enrolled(t, string(r)+"@example.org", r)
	}
	target := e.enrolled(t, "target@example.org", auth.RoleSupport)
	subjectID, erasureRequest, erasureID := e.awaitingApproval(t)
	access := e.submit(t, e.subject(t, "contact"), dsr.Access, dsr.Details{})
	hook, _, err := e.webhooks.CreateEndpoint(t.Context(), "https://crm.example/hooks", []string{"*"}, "operator:test")
	if err != nil {
		t.Fatal(err)
	}
	routes := e.srv.Routes()
	if len(routes) < 15 {
		t.Fatalf("route table has %d routes", len(routes))
	}
	form := url.Values{"email": {"new-person@example.org"}, "role": {"auditor"}, "code": {"000000"}, "token": {"x"}, "next": {"/console/"},
		"to": {"in_progress"}, "text": {"a note or a reason"}, "staff": {target.id}, "decision": {"approve"},
		"kind": {"access"}, "channel": {"staff-letter"}, "subject": {subjectID}, "url": {"https://erp.example/hooks"}, "events": {"*"}}
	unauthorised := 0
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		id := target.id
		switch {
		case strings.HasPrefix(path, "/console/requests/{id}/erase"):
			id = erasureRequest.ID
		case strings.HasPrefix(path, "/console/requests/{id}"):
			id = access.ID
		case strings.HasPrefix(path, "/console/erasures/{id}"):
			id = erasureID
		case strings.HasPrefix(path, "/console/webhooks/{id}"):
			id = hook.ID
		}
		path = strings.NewReplacer("{$}", "", "{id}", id, "{category}", "security", "{token}", "some-token",
			"{slug}", slug(path), "{version}", "1").Replace(path)
		call := func(c *client) answer {
			if method == http.MethodPost {
				return c.post(path, form)
			}
			return c.get(path)
		}
		if rt.Stage != console.StageSignedIn {
			continue
		}
		t.Run(rt.Pattern, func(t *testing.T) {
			before := e.count(t, "SELECT COUNT(*) FROM staff")
			// Anonymous and half-signed-in visitors are sent to sign in.
			if a := call(e.client(t)); a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/signin" {
				t.Errorf("anonymous: %d %s", a.status, a.header.Get("Location"))
				unauthorised++
			}
			half := e.client(t)
			half.cookie, _ = e.sessions.Create(t.Context(), auth.NewSession{Kind: auth.SessionStaff, Principal: members[auth.RoleOwner].id, Level: auth.LevelPassword})
			if a := call(half); a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/signin/code" {
				t.Errorf("second factor pending: %d %s", a.status, a.header.Get("Location"))
				unauthorised++
			}
			for _, role := range auth.AllRoles {
				c := e.client(t)
				c.cookie = e.session(t, members[role].id, true)
				a := call(c)
				want, ok := expectedAccess[rt.Pattern]
				if !ok {
					t.Fatalf("route %s has no entry in the expected access table", rt.Pattern)
				}
				allowed := slices.Contains(want, role)
				switch {
				case allowed && (a.status == http.StatusForbidden || a.status >= 500):
					t.Errorf("%s: status %d on a route it may use", role, a.status)
				case !allowed && a.status != http.StatusForbidden:
					t.Errorf("%s: status %d on a route it may not use", role, a.status)
					unauthorised++
				}
			}
			if e.count(t, "SELECT COUNT(*) FROM staff") > before+1 {
				t.Error("more than the owner's one creation happened")
			}
		})
	}
	if unauthorised != 0 {
		t.Fatalf("%d unauthorised successes", unauthorised)
	}
	// Refused writes wrote nothing: only the owner created people (one per
	// run of the create route) and changed the target's role.
	if n := e.count(t, "SELECT COUNT(*) FROM staff WHERE id NOT IN ($1, $2, $3, $4, $5)",
		members[auth.RoleOwner].id, members[auth.RoleDPO].id, members[auth.RoleSupport].id, members[auth.RoleAuditor].id, target.id); n != 1 {
		t.Fatalf("%d staff created by the matrix, want 1 (the owner's)", n)
	}
	// Nor did the auditor change a request, write a note, decide an
	// erasure or enter a request; and each refusal by role was audited.
	auditor := "staff:" + members[auth.RoleAuditor].id
	for _, q := range []string{
		"SELECT COUNT(*) FROM request_events WHERE actor = $1",
		"SELECT COUNT(*) FROM request_notes WHERE author = $1",
		"SELECT COUNT(*) FROM erasure_items WHERE decided_by = $1",
		"SELECT COUNT(*) FROM requests WHERE created_by = $1",
	} {
		if n := e.count(t, q, auditor); n != 0 {
			t.Errorf("%s: %d", q, n)
		}
	}
	if n := e.count(t, "SELECT COUNT(*) FROM audit_events WHERE action = 'console.forbidden' AND actor = $1", auditor); n < 10 {
		t.Errorf("refusals of the auditor audited: %d", n)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM webhook_endpoints"); n != 2 {
		t.Errorf("webhook endpoints: %d, want the setup's and the owner's", n)
	}
	// The allowed roles did change things: the matrix reached the handlers.
	if n := e.count(t, "SELECT COUNT(*) FROM request_notes WHERE request_id = $1", access.ID); n != 3 {
		t.Errorf("notes written by owner, dpo and support: %d", n)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM erasure_items WHERE erasure_id = $1 AND state = 'erased' AND decided_by = $2", erasureID, "staff:"+members[auth.RoleOwner].id); n != 1 {
		t.Errorf("the owner's approval: %d", n)
	}
	var creators int
	creators = e.count(t, "SELECT COUNT(*) FROM audit_events WHERE action = 'staff.create' AND actor = $1", "staff:"+members[auth.RoleOwner].id)
	if creators != 1 {
		t.Fatalf("owner creations audited: %d", creators)
	}
}

// slug names a purpose or a notice the migrations create.
func slug(path string) string {
	if strings.Contains(path, "/notices/") {
		return "privacy-policy"
	}
	return "support"
}

// TestConsoleNeeds2FA: an enrolment session (password chosen, TOTP not
// confirmed) reaches none of the console's pages.
func TestConsoleNeeds2FA(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
		e := newEnv(t, envOptions{engine: eng})
		_, token, err := e.staff.Create(t.Context(), "new@example.org", auth.RoleOwner, "operator:test")
		if err != nil {
			t.Fatal(err)
		}
		c := e.client(t)
		if a := c.get("/console/enrol/" + token); a.status != 200 || !strings.Contains(a.body, `value="`+token+`"`) {
			t.Fatalf("link page: %d", a.status)
		}
		if a := c.post("/console/enrol/start", url.Values{"token": {token}}); a.status != http.StatusSeeOther {
			t.Fatalf("start: %d", a.status)
		}
		if a := c.post("/console/enrol/password", url.Values{"password": {testPassword}, "password2": {testPassword}}); a.status != http.StatusSeeOther {
			t.Fatalf("password: %d %s", a.status, a.body)
		}
		for _, p := range []string{"/console/", "/console/staff"} {
			if a := c.get(p); a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/enrol" {
				t.Errorf("%s before 2FA: %d %s", p, a.status, a.header.Get("Location"))
			}
		}
		// Nor can the account sign in: it is not enrolled.
		if a := e.client(t).post("/console/signin", url.Values{"email": {"new@example.org"}, "password": {testPassword}}); a.status != http.StatusOK || !strings.Contains(a.body, "not correct") {
			t.Errorf("sign-in before 2FA: %d", a.status)
		}
		// A used link does not work twice.
		if a := e.client(t).post("/console/enrol/start", url.Values{"token": {token}}); a.status != http.StatusGone {
			t.Errorf("reused link: %d", a.status)
		}
	})
}
