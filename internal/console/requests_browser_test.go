package console_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/console"
	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/ui"
	"github.com/gdprd/gdprd/internal/ui/uitest"
	"github.com/gdprd/gdprd/internal/web"
	"github.com/gdprd/gdprd/internal/webhook"
)

// browserServer serves e's console with the static files, on localhost
// (a secure context, so the __Host- session cookie is kept over http).
func (e *env) browserServer(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, e.srv.Handler(nil))
	mux.Handle(ui.StaticPrefix, web.Browser(slog.New(slog.DiscardHandler), nil)(ui.MustNew(ui.Options{}).Static()))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return strings.Replace(hs.URL, "127.0.0.1", "localhost", 1)
}

// TestJourneyRequestQueue walks the console in Chromium as an owner (who
// sees every form): dashboard counts → queue → a request → start work →
// approve and complete; then the erasure approvals → approve → the
// receipt; then the consent pages and the webhooks. Every new page is
// checked with axe-core (0 violations at WCAG 2.1 AA), for CSP
// violations and overflow, with screenshots.
func TestJourneyRequestQueue(t *testing.T) {
	uitest.ExecPath(t)
	e := newEnv(t, envOptions{engine: sqlstore.SQLite})
	sup := e.enrolled(t, "olga@example.org", auth.RoleOwner)
	_, erasureRequest, erasureID := e.awaitingApproval(t)
	now := e.clock.Now()
	overdue := e.staffEntry(t, e.subject(t, "contact"), dsr.Export, now.AddDate(0, -1, -3))
	access := e.submit(t, e.subject(t, "contact"), dsr.Access, dsr.Details{})
	rect, err := e.dsr.Submit(t.Context(), dsr.Actor{Name: "staff:setup", Purpose: "dsr"}, dsr.NewRequest{SubjectID: e.subject(t, "contact"),
		Kind: dsr.Rectification, Channel: dsr.StaffEmail, Details: dsr.Details{Fields: map[string]string{"contact.city": "Bremen"}, Message: "I moved house."}})
	if err != nil {
		t.Fatal(err)
	}
	// Consent and webhooks: a published policy, a purpose, a grant, an
	// endpoint with a queued delivery.
	ctx := t.Context()
	setup := consent.Actor{Name: "staff:setup", Purpose: "consent-management"}
	v, err := e.consent.DraftNotice(ctx, setup, "privacy-policy", consent.Draft{Body: "# Privacy\n\nHow we use data.", EffectiveAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if v, err = e.consent.PublishNotice(ctx, setup, "privacy-policy", v.Version); err != nil {
		t.Fatal(err)
	}
	if _, err := e.consent.DraftNotice(ctx, setup, "privacy-policy", consent.Draft{Body: "# Privacy\n\nClearer.", EffectiveAt: now.AddDate(0, 1, 0), Summary: "Clearer wording", Material: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.consent.CreatePurpose(ctx, setup, consent.Purpose{Slug: "newsletter", Basis: consent.Consent,
		Names: map[string]string{"en": "Newsletter", "de": "Newsletter"}, Descriptions: map[string]string{"en": "News by e-mail.", "de": "Neuigkeiten per E-Mail."},
		Categories: []string{"contact"}, Retention: "P2Y", DirectMarketing: true}); err != nil {
		t.Fatal(err)
	}
	granter := e.subject(t)
	if _, err := e.consent.Record(ctx, consent.Actor{Name: "subject:" + granter, Purpose: "consent-management"}, consent.Request{SubjectID: granter,
		Kind: consent.Grant, Purpose: "newsletter", NoticeVersion: v.Version, Channel: consent.Portal, Action: consent.Checkbox}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.webhooks.CreateEndpoint(ctx, "https://crm.example/hooks", []string{"*"}, "operator:test"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.webhooks.Enqueue(ctx, "erasure.completed", webhook.Payload{SubjectID: granter, Categories: []string{"contact"}}); err != nil {
		t.Fatal(err)
	}
	base := e.browserServer(t)
	shots := filepath.Join(uitest.OutputDir(t), "console-requests")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	browser := uitest.NewBrowser(t)
	tab := browser.NewTab(t)

	// Sign in with password and code.
	tab.Open(t, base+"/console/signin")
	tab.Fill(t, "#email", sup.email)
	tab.Fill(t, "#password", testPassword)
	tab.Click(t, "main form button")
	e.clock.Add(30 * time.Second)
	tab.Fill(t, "#code", totpCode(t, sup.secret, e.clock.Now()))
	tab.Click(t, "main form button")
	if got := tab.Text(t, "h1"); got != "Dashboard" {
		t.Fatalf("after sign-in: %q", got)
	}
	if got := tab.Text(t, "#count-open"); got != "4" {
		t.Errorf("open requests on the dashboard: %q", got)
	}
	if got := tab.Text(t, "#count-overdue"); got != "1" {
		t.Errorf("overdue requests on the dashboard: %q", got)
	}
	tab.CheckPage(t, shots, "dashboard")

	// The queue: the overdue request first, marked in words.
	tab.Click(t, `.console-nav a[href="/console/requests"]`)
	if got := tab.Text(t, "h1"); got != "Requests" {
		t.Fatalf("queue h1 %q", got)
	}
	first := tab.Text(t, "#queue tbody tr:first-child")
	if !strings.Contains(first, "Legal deadline passed") || !strings.Contains(first, "Data export") {
		t.Errorf("first row of the queue: %q", first)
	}
	tab.CheckPage(t, shots, "queue")

	// A request with sealed details: the page shows them.
	tab.Open(t, base+"/console/requests/"+rect.ID)
	if got := tab.Text(t, "#request-message"); got != "I moved house." {
		t.Errorf("message: %q", got)
	}
	tab.CheckPage(t, shots, "request-rectification")

	// Work the access request: start, then approve and complete.
	tab.Open(t, base+"/console/requests")
	tab.Click(t, `#queue a[href="/console/requests/`+access.ID+`"]`)
	if got := tab.Text(t, "#request-state"); got != "Received" {
		t.Fatalf("state %q", got)
	}
	tab.CheckPage(t, shots, "request")
	tab.Click(t, "#to-in_progress")
	if got := tab.Text(t, "#request-state"); got != "In progress" {
		t.Fatalf("after starting: %q", got)
	}
	// (uitest.Fill cannot clear an empty textarea; set it instead.)
	uitest.Eval[string](t, tab, `document.querySelector("#note-text").value = "Export from the billing system requested"`)
	tab.Click(t, "#add-note")
	if got := tab.Text(t, "#notes-list"); !strings.Contains(got, "Export from the billing system requested") {
		t.Errorf("notes: %q", got)
	}
	tab.Click(t, "#to-completed")
	if got := tab.Text(t, "#request-state"); got != "Completed" {
		t.Fatalf("after approval: %q", got)
	}
	if got := tab.Text(t, "#history-table"); !strings.Contains(got, "Completed") || !strings.Contains(got, "olga@example.org") {
		t.Errorf("history: %q", got)
	}
	tab.CheckPage(t, shots, "request-completed")
	if r, _ := e.dsr.Get(t.Context(), access.ID); r.State != dsr.Completed {
		t.Fatalf("stored state %s", r.State)
	}

	// A refusal without its words is refused on the page, nothing changes.
	// In a tab of its own (the same browser, so the same session):
	// Chromium logs the 400 document as a console error, which CheckPage
	// would count against the pages after it.
	main := tab
	tab = browser.NewTab(t)
	tab.Open(t, base+"/console/requests/"+overdue.ID)
	uitest.Eval[bool](t, tab, `document.querySelector("#refuse-text").removeAttribute("required") === undefined`)
	tab.Click(t, "#to-refused")
	if got := tab.Text(t, "#action-error"); !strings.Contains(got, "Nothing was changed") {
		t.Errorf("refusal without reason: %q", got)
	}
	if r, _ := e.dsr.Get(t.Context(), overdue.ID); r.State != dsr.Received {
		t.Fatalf("state after a refused refusal: %s", r.State)
	}
	for _, v := range tab.Axe(t, uitest.WCAG21AA()) {
		t.Errorf("refusal error page: axe: %s", v)
	}
	tab.Screenshot(t, shots, "request-refusal-error")
	tab = main

	// The intake form.
	tab.Open(t, base+"/console/requests/new")
	tab.CheckPage(t, shots, "request-new")

	// Erasure approvals: the erasure request waits; approve security.
	tab.Open(t, base+"/console/requests/"+erasureRequest.ID)
	if got := tab.Text(t, "#request-state"); got != "Awaiting approval" {
		t.Fatalf("erasure request: %q", got)
	}
	tab.CheckPage(t, shots, "request-erasure")
	tab.Click(t, `.console-nav a[href="/console/erasures"]`)
	tab.CheckPage(t, shots, "erasures")
	tab.Click(t, `#approvals a[href="/console/erasures/`+erasureID+`"]`)
	tab.CheckPage(t, shots, "erasure")
	tab.Click(t, "#approve-security")
	if got := tab.Text(t, "#erasure-items"); !strings.Contains(got, "Erased") || !strings.Contains(got, "olga@example.org") {
		t.Errorf("after approval: %q", got)
	}
	if got := tab.Text(t, "#receipt-claims"); !strings.Contains(got, "erasure-receipt") {
		t.Errorf("receipt: %q", got)
	}
	tab.CheckPage(t, shots, "erasure-approved")
	if r, _ := e.dsr.Get(t.Context(), erasureRequest.ID); r.State != dsr.Completed {
		t.Errorf("erasure request after approval: %s", r.State)
	}

	// German.
	tab.Open(t, base+"/console/requests?lang=de")
	if got := tab.Text(t, "h1"); got != "Anträge" {
		t.Errorf("German queue h1 %q", got)
	}
	tab.CheckPage(t, shots, "queue-de")

	// Consent.
	tab.Open(t, base+"/console/")
	tab.Click(t, `.console-nav a[href="/console/consent/purposes"]`)
	tab.CheckPage(t, shots, "purposes")
	tab.Click(t, `#purposes a[href="/console/consent/purposes/newsletter"]`)
	tab.CheckPage(t, shots, "purpose")
	tab.Fill(t, "#name-en", "Our newsletter")
	tab.Click(t, "#save-purpose")
	if got := tab.Text(t, "#purposes"); !strings.Contains(got, "Our newsletter") {
		t.Errorf("purposes after the edit: %q", got)
	}
	tab.Click(t, `.consent-subnav a[href="/console/consent/notices"]`)
	tab.CheckPage(t, shots, "notices")
	tab.Click(t, `#notices a[href="/console/consent/notices/privacy-policy"]`)
	tab.CheckPage(t, shots, "notice")
	tab.Click(t, `.consent-subnav a[href="/console/consent/register"]`)
	tab.CheckPage(t, shots, "register")
	tab.Click(t, "#search")
	if got := tab.Text(t, "#records"); !strings.Contains(got, granter) {
		t.Errorf("register search: %q", got)
	}
	tab.CheckPage(t, shots, "register-results")
	tab.Click(t, `.consent-subnav a[href="/console/consent/figures"]`)
	if got := tab.Text(t, "#figures"); !strings.Contains(got, "newsletter") {
		t.Errorf("figures: %q", got)
	}
	tab.CheckPage(t, shots, "figures")

	// Webhooks.
	tab.Click(t, `.console-nav a[href="/console/webhooks"]`)
	if got := tab.Text(t, "#deliveries"); !strings.Contains(got, "erasure.completed") {
		t.Errorf("deliveries: %q", got)
	}
	tab.CheckPage(t, shots, "webhooks")
}
