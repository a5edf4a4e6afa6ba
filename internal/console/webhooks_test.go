package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/webhook"
)

// TestWebhookPages: every member sees the endpoints and the delivery
// status; only an owner with a fresh second factor adds one (its secret
// shown once), a bad URL is refused with nothing written, and an owner
// disables an endpoint.
func TestWebhookPages(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
		e := newEnv(t, envOptions{engine: eng})
		owner := e.enrolled(t, "owner@example.org", auth.RoleOwner)
		aud := e.enrolled(t, "aud@example.org", auth.RoleAuditor)
		ep, _, err := e.webhooks.CreateEndpoint(t.Context(), "https://crm.example/hooks", []string{"*"}, "operator:test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.webhooks.Enqueue(t.Context(), "erasure.completed", webhook.Payload{SubjectID: e.subject(t), Categories: []string{"contact"}}); err != nil {
			t.Fatal(err)
		}
		ac := e.client(t)
		ac.cookie = e.session(t, aud.id, false)
		a := ac.get("/console/webhooks")
		if a.status != http.StatusOK || !strings.Contains(a.body, "https://crm.example/hooks") || !strings.Contains(a.body, "erasure.completed") {
			t.Fatalf("auditor's list: %d", a.status)
		}
		if strings.Contains(a.body, `action="/console/webhooks"`) || strings.Contains(a.body, "/disable") {
			t.Error("the auditor is offered changes")
		}
		endpoints := func() int { return e.count(t, "SELECT COUNT(*) FROM webhook_endpoints") }

		oc := e.client(t)
		oc.cookie = e.session(t, owner.id, false)
		form := url.Values{"url": {"https://erp.example/gdpr"}, "events": {"erasure.completed, erasure.scheduled"}}
		if a := oc.post("/console/webhooks", form); !strings.Contains(a.body, `action="/console/stepup"`) || endpoints() != 1 {
			t.Fatalf("creation without a fresh factor: %d, %d endpoints", a.status, endpoints())
		}
		oc.cookie = e.session(t, owner.id, true)
		if a := oc.post("/console/webhooks", url.Values{"url": {"ftp://erp.example"}, "events": {"*"}}); a.status != http.StatusBadRequest || endpoints() != 1 {
			t.Fatalf("bad URL: %d", a.status)
		}
		a = oc.post("/console/webhooks", form)
		if a.status != http.StatusOK || !strings.Contains(a.body, `id="webhook-secret"`) || endpoints() != 2 {
			t.Fatalf("creation: %d", a.status)
		}
		if a := oc.get("/console/webhooks"); strings.Contains(a.body, `id="webhook-secret"`) {
			t.Error("the secret is shown again")
		}
		if a := oc.post("/console/webhooks/"+ep.ID+"/disable", nil); a.status != http.StatusSeeOther {
			t.Fatalf("disable: %d", a.status)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM webhook_endpoints WHERE disabled_at IS NOT NULL"); n != 1 {
			t.Fatalf("disabled endpoints: %d", n)
		}
		if a := oc.get("/console/webhooks"); !strings.Contains(a.body, "Disabled ") {
			t.Error("the disabled endpoint is not marked")
		}
	})
}
