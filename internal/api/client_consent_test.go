package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gdprd/gdprd/client"
	"github.com/gdprd/gdprd/internal/auth"
)

// TestClientConsentAndRequests drives the real server through the public
// Go client: consent records, state, the single and batch checks, the
// stream of subjects who agreed, notices to accept again, requests with
// idempotency keys, listing, and export links; and checks that problems
// reach the caller as *client.Error with their code and field.
func TestClientConsentAndRequests(t *testing.T) {
	t.Parallel()
	f := newConsentFixture(t)
	key := apiKey(t, f.dataDir, []string{auth.ScopeConsentRead, auth.ScopeConsentWrite, auth.ScopeDSRRead, auth.ScopeDSRWrite, auth.ScopeVaultWrite}, 0)
	c := newClient(t, f.base, key)
	ctx := t.Context()
	ada, bob := f.vars["ada"], f.vars["bob"]

	rec, err := c.RecordConsent(ctx, ada, client.Consent{Kind: "grant", Purpose: "newsletter", NoticeVersion: 1, Action: "checkbox",
		Proof: &client.ConsentProof{IP: "198.51.100.4", UserAgent: "ClientTest/1"}})
	if err != nil {
		t.Fatalf("RecordConsent: %v", err)
	}
	if rec.Kind != "grant" || rec.Purpose != "newsletter" || rec.SubjectID != ada || rec.Channel != "api" || !strings.HasPrefix(rec.ID, "cr_") {
		t.Errorf("record = %+v", rec)
	}
	_, err = c.RecordConsent(ctx, ada, client.Consent{Kind: "grant", Purpose: "research", NoticeVersion: 1})
	if e, ok := err.(*client.Error); !ok || e.Status != http.StatusBadRequest || e.Field != "action" {
		t.Errorf("a grant without an affirmative action: %v, want a 400 on field action", err)
	}

	d, err := c.CheckConsent(ctx, ada, "newsletter")
	if err != nil || !d.Allowed || d.RecordID != rec.ID || d.Basis != "consent" || d.Since == nil {
		t.Errorf("CheckConsent = %+v, %v; want allowed by %s", d, err, rec.ID)
	}
	if _, err := c.CheckConsent(ctx, ada, "no-such-purpose"); !client.IsNotFound(err) {
		t.Errorf("unknown purpose: %v, want not found", err)
	}

	states, err := c.ConsentStates(ctx, ada)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(states, func(s client.ConsentState) bool { return s.Purpose == "newsletter" })
	if i < 0 || !states[i].Allowed || states[i].Record == nil || states[i].Record.ID != rec.ID || !states[i].DirectMarketing {
		t.Errorf("ConsentStates = %+v", states)
	}

	unknown := "sub_" + strings.Repeat("a", 26)
	ds, err := c.CheckConsents(ctx, []client.Pair{{SubjectID: ada, Purpose: "newsletter"}, {SubjectID: bob, Purpose: "research"}, {SubjectID: unknown, Purpose: "newsletter"}})
	if err != nil || len(ds) != 3 {
		t.Fatalf("CheckConsents = %+v, %v", ds, err)
	}
	if !ds[0].Allowed || ds[0].SubjectID != ada || ds[1].Allowed || ds[1].Reason != "no-consent" || ds[2].Allowed || ds[2].Reason != "unknown-subject" {
		t.Errorf("CheckConsents = %+v", ds)
	}

	var ids []string
	if err := c.SubjectsAllowed(ctx, "newsletter", func(id string) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	want := []string{ada, bob}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("SubjectsAllowed = %v, want %v", ids, want)
	}

	if n, err := c.NoticesToAccept(ctx, ada); err != nil || len(n) != 0 {
		t.Errorf("before a material change: %+v, %v", n, err)
	}
	f.publish(t, "privacy-policy", `{"body": "# Privacy Policy\n\nNew partners.", "effective_at": "2026-09-01T00:00:00Z",
		"material": true, "summary": "Partners"}`)
	n, err := c.NoticesToAccept(ctx, ada)
	if err != nil || len(n) != 1 || n[0].Notice != "privacy-policy" || n[0].Version != 2 || n[0].Summary != "Partners" {
		t.Errorf("after a material change: %+v, %v", n, err)
	}
	if _, err := c.RecordConsent(ctx, ada, client.Consent{Kind: "accept-notice", Notice: "privacy-policy", NoticeVersion: 2, Action: "button"}); err != nil {
		t.Fatal(err)
	}
	if n, err := c.NoticesToAccept(ctx, ada); err != nil || len(n) != 0 {
		t.Errorf("after accepting: %+v, %v", n, err)
	}

	// Requests: an idempotent submission, replayed; reading and listing.
	before := time.Now().Add(-time.Second)
	r1, err := c.SubmitRequest(ctx, "client-1", client.NewRequest{SubjectID: ada, Kind: "erasure",
		Details: &client.RequestDetails{Categories: []string{"contact"}}})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Replayed || r1.Merged || r1.State != "received" || r1.Kind != "erasure" || r1.ReceivedAt.Before(before) ||
		r1.LegalDueAt.Before(r1.TargetDueAt) || !slices.Equal(r1.Details.Categories, []string{"contact"}) {
		t.Errorf("SubmitRequest = %+v", r1)
	}
	again, err := c.SubmitRequest(ctx, "client-1", client.NewRequest{SubjectID: ada, Kind: "erasure",
		Details: &client.RequestDetails{Categories: []string{"contact"}}})
	if err != nil || !again.Replayed || again.ID != r1.ID {
		t.Errorf("replay = %+v, %v; want the first request, replayed", again, err)
	}
	if _, err := c.SubmitRequest(ctx, "", client.NewRequest{SubjectID: ada, Kind: "access"}); client.Code(err) != "invalid" {
		t.Errorf("no idempotency key: %v", err)
	}
	r2, err := c.SubmitRequest(ctx, "client-2", client.NewRequest{SubjectID: bob, Kind: "access"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Request(ctx, r1.ID)
	if err != nil || got.ID != r1.ID || got.SubjectID != ada || !got.LegalDueAt.Equal(r1.LegalDueAt) {
		t.Errorf("Request = %+v, %v", got, err)
	}
	if _, err := c.Request(ctx, "req_"+strings.Repeat("a", 26)); !client.IsNotFound(err) {
		t.Errorf("unknown request: %v", err)
	}
	page, err := c.ListRequests(ctx, client.RequestFilter{Kinds: []string{"access"}})
	if err != nil || len(page.Requests) != 1 || page.Requests[0].ID != r2.ID {
		t.Errorf("ListRequests(access) = %+v, %v", page, err)
	}
	page, err = c.ListRequests(ctx, client.RequestFilter{Limit: 1})
	if err != nil || len(page.Requests) != 1 || page.NextCursor == "" {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	next, err := c.ListRequests(ctx, client.RequestFilter{Limit: 1, Cursor: page.NextCursor})
	if err != nil || len(next.Requests) != 1 || next.Requests[0].ID == page.Requests[0].ID {
		t.Errorf("second page = %+v, %v", next, err)
	}

	// Erasure through the client: a dry run, then the erasure itself.
	plan, err := c.CarryOutErasure(ctx, r1.ID, client.ErasureSelection{DryRun: true})
	if err != nil || plan.ErasureID != "" || len(plan.Plan.Items) != 1 || plan.Plan.Items[0].Outcome != "erase" {
		t.Errorf("dry run = %+v, %v", plan, err)
	}
	done, err := c.CarryOutErasure(ctx, r1.ID, client.ErasureSelection{})
	if err != nil || done.ErasureID == "" || done.Receipt == "" || done.Request.State != "completed" {
		t.Fatalf("erasure = %+v, %v", done, err)
	}
	stored, err := c.ErasureReceiptOf(ctx, done.ErasureID)
	if err != nil || stored.Receipt != done.Receipt || len(stored.Deliveries) != 0 {
		t.Errorf("receipt = %+v, %v (no endpoint is configured: no deliveries)", stored, err)
	}
	if _, err := c.CarryOutErasure(ctx, r1.ID, client.ErasureSelection{}); !client.IsConflict(err) {
		t.Errorf("a completed request carried out again: %v, want a conflict", err)
	}

	link, err := c.CreateExport(ctx, bob, "export", "")
	if err != nil || !strings.Contains(link.URL, "/download/") || link.Kind != "export" || !link.ExpiresAt.After(time.Now()) {
		t.Errorf("CreateExport = %+v, %v", link, err)
	}
	if _, err := c.CreateExport(ctx, bob, "export", "not-an-age-key"); client.Code(err) != "invalid" {
		t.Errorf("bad recipient: %v", err)
	}

	res, err := c.SetRestriction(ctx, bob, client.Restriction{Restricted: true, Reason: "accuracy contested"})
	if err != nil || !res.Restricted || !res.Changed {
		t.Fatalf("SetRestriction = %+v, %v", res, err)
	}
	if d, err := c.CheckConsent(ctx, bob, "newsletter"); err != nil || d.Allowed || d.Reason != "restricted" {
		t.Errorf("check of a restricted subject = %+v, %v", d, err)
	}
	res, err = c.SetRestriction(ctx, bob, client.Restriction{Restricted: false, Reason: "verified"})
	if err != nil || res.Restricted || res.Notified != "email" {
		t.Errorf("lifting = %+v, %v", res, err)
	}
}
