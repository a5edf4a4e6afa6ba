package api_test

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gdprd/gdprd/client"
	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/receipt"
	"github.com/gdprd/gdprd/internal/webhook"
)

// receiver is a real HTTP webhook receiver that checks every message's
// Standard Webhooks signature with the endpoint's secret, as an
// operator's system would, and refuses the first delivery so that the
// retry is exercised.
type receiver struct {
	t      *testing.T
	secret string
	srv    *httptest.Server

	mu       sync.Mutex
	secretOK bool
	attempts int
	bodies   []json.RawMessage
	ids      []string
	badSigs  int
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{t: t}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.attempts++
		id, tsText, sig := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
		ts, err := strconv.ParseInt(tsText, 10, 64)
		if err != nil || rc.secret == "" {
			rc.badSigs++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		want, err := webhook.Sign(rc.secret, id, time.Unix(ts, 0), body)
		if err != nil || !slices.Contains(strings.Fields(sig), want) || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
			rc.badSigs++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if rc.attempts == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // try again later
			return
		}
		rc.bodies = append(rc.bodies, body)
		rc.ids = append(rc.ids, id)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// received returns the accepted bodies and ids and the number of
// requests that failed the signature check.
func (rc *receiver) received() ([]json.RawMessage, []string, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.bodies), slices.Clone(rc.ids), rc.badSigs
}

func (rc *receiver) requests() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.attempts
}

// erasureClaims is the part of the receipt these tests read.
type erasureClaims struct {
	Subject   string `json:"sub"`
	RequestID string `json:"request_id"`
	Erased    []string
	Kept      []struct {
		Category, Reason, Reference, Exception string
		Until                                  time.Time
	}
	AwaitingApproval []string `json:"awaiting_approval"`
	Recipients       []string `json:"notified_recipients"`
	Verified         bool
}

// TestErasurePropagation carries out an erasure request through the API:
// held categories are kept with their reason and date, security data waits
// for approval, the rest is erased, and a signed subject.erased webhook
// reaches a real receiver (after one refused attempt), whose host the
// receipt lists; the receipt's answer shows the delivery as delivered.
func TestErasurePropagation(t *testing.T) {
	t.Parallel()
	policy := filepath.Join(t.TempDir(), "erasure-policy.json")
	if err := os.WriteFile(policy, []byte(`{"holds":[{"category":"billing","reason":"Invoices are kept for the tax authorities",
		"reference":"§147 AO","exception":"legal-obligation","duration":{"years":10}}],"approval_required":["security"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	base, dataDir := startServerWith(t, []string{"--erasure-policy-file", policy})
	rc := newReceiver(t)
	secret := strings.TrimSpace(gdprd(t, "webhook", "create", "--data", dataDir, "--url", rc.srv.URL+"/hooks?token=s3cret", "--events", "subject.erased"))
	rc.mu.Lock()
	rc.secret = secret
	rc.mu.Unlock()
	// An endpoint for other events gets nothing.
	other := newReceiver(t)
	gdprd(t, "webhook", "create", "--data", dataDir, "--url", other.srv.URL, "--events", "request.created")

	f := &fixture{base: base, dataDir: dataDir, hc: httpClient(t), vars: map[string]string{
		"dsr":    apiKey(t, dataDir, []string{auth.ScopeDSRRead, auth.ScopeDSRWrite, auth.ScopeVaultRead, auth.ScopeVaultWrite}, 0),
		"reader": apiKey(t, dataDir, []string{auth.ScopeDSRRead}, 0),
	}}
	c := newClient(t, base, f.vars["dsr"])
	s, err := c.CreateSubject(t.Context(), client.NewSubject{Email: "erin@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	f.vars["erin"] = s.ID
	for cat, v := range map[string]any{"contact": map[string]string{"name": "Erin"}, "billing": map[string]string{"iban": "DE02120300000000202051"},
		"security": map[string]string{"ip": "192.0.2.7"}, "usage": map[string]int{"logins": 3}} {
		if err := c.PutData(t.Context(), s.ID, cat, v); err != nil {
			t.Fatalf("put %s: %v", cat, err)
		}
	}
	var req apiRequest
	if resp := f.call(t, "POST", "/requests", dsrW("Idempotency-Key", "erase-1"),
		`{"subject_id":"{erin}","kind":"erasure","categories":["contact","billing","security","usage"]}`, &req); resp.StatusCode != 201 {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	f.vars["req"] = req.ID

	t.Run("refusals change nothing", func(t *testing.T) {
		before := dsrSnapshot(t, dataDir)
		for _, sc := range []scenario{
			{name: "wider than asked", method: "POST", path: "/requests/{req}/erasure", headers: dsrW("Content-Type", jsonCT),
				body: `{"categories":["marketing"]}`, wantStatus: 400, wantCode: "invalid", wantField: "categories"},
			{name: "whole account not asked", method: "POST", path: "/requests/{req}/erasure", headers: dsrW("Content-Type", jsonCT),
				body: `{"all":true}`, wantStatus: 400, wantCode: "invalid", wantField: "all"},
			{name: "read scope", method: "POST", path: "/requests/{req}/erasure", headers: headers("Bearer {reader}", "Content-Type", jsonCT),
				body: `{}`, wantStatus: 403, wantCode: "forbidden"},
			{name: "unknown request", method: "POST", path: "/requests/req_aaaaaaaaaaaaaaaaaaaaaaaaaa/erasure", headers: dsrW("Content-Type", jsonCT),
				body: `{}`, wantStatus: 404, wantCode: "not_found"},
		} {
			t.Run(sc.name, func(t *testing.T) { sc.run(t, f) })
		}
		if after := dsrSnapshot(t, dataDir); after != before {
			t.Errorf("refusals wrote: %+v → %+v", before, after)
		}
	})

	t.Run("dry run", func(t *testing.T) {
		var out struct {
			Plan    dsr.Plan
			Request apiRequest
			Receipt string
		}
		if resp := f.call(t, "POST", "/requests/{req}/erasure", dsrW(), `{"dry_run":true}`, &out); resp.StatusCode != 200 {
			t.Fatalf("dry run: %d", resp.StatusCode)
		}
		got := map[string]dsr.Outcome{}
		for _, i := range out.Plan.Items {
			got[i.Category] = i.Outcome
		}
		want := map[string]dsr.Outcome{"billing": dsr.Keep, "contact": dsr.Erase, "security": dsr.AwaitApproval, "usage": dsr.Erase}
		if !maps.Equal(got, want) || out.Receipt != "" || out.Request.State != "received" {
			t.Errorf("dry run: plan %v, receipt %q, state %s", got, out.Receipt, out.Request.State)
		}
		if _, err := c.Data(t.Context(), s.ID, "contact"); err != nil {
			t.Errorf("a dry run erased: %v", err)
		}
	})

	var out struct {
		ErasureID string `json:"erasure_id"`
		Receipt   string
		Request   apiRequest
	}
	resp := f.call(t, "POST", "/requests/{req}/erasure", dsrW(), `{}`, &out)
	if resp.StatusCode != 201 || resp.Header.Get("Location") != "/api/v1/erasure-receipts/"+out.ErasureID {
		t.Fatalf("erasure: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if out.Request.State != "awaiting_approval" {
		t.Errorf("request state = %s, want awaiting_approval (security waits)", out.Request.State)
	}
	var jwks jose.JSONWebKeySet
	_, jb := send(t, http.DefaultClient, "GET", base+receipt.JWKSPath, nil, nil)
	if err := json.Unmarshal(jb, &jwks); err != nil {
		t.Fatal(err)
	}
	var claims erasureClaims
	if err := receipt.Verify(out.Receipt, jwks, &claims); err != nil {
		t.Fatalf("receipt: %v", err)
	}
	host := strings.TrimPrefix(rc.srv.URL, "http://")
	if claims.Subject != s.ID || claims.RequestID != req.ID || !slices.Equal(claims.Erased, []string{"contact", "usage"}) ||
		!slices.Equal(claims.AwaitingApproval, []string{"security"}) || !slices.Equal(claims.Recipients, []string{host}) || !claims.Verified {
		t.Errorf("receipt claims = %+v, want erased contact+usage, security awaiting, recipients [%s]", claims, host)
	}
	if len(claims.Kept) != 1 || claims.Kept[0].Category != "billing" || claims.Kept[0].Reference != "§147 AO" ||
		claims.Kept[0].Exception != "legal-obligation" || claims.Kept[0].Until.Before(time.Now().AddDate(9, 11, 0)) {
		t.Errorf("kept = %+v, want billing under §147 AO for ten years", claims.Kept)
	}
	for cat, want := range map[string]int{"contact": 404, "usage": 404, "billing": 200, "security": 200} {
		if resp := f.call(t, "GET", "/subjects/{erin}/data/"+cat, dsrW(), "", nil); resp.StatusCode != want {
			t.Errorf("read %s after erasure: %d, want %d", cat, resp.StatusCode, want)
		}
	}

	// The runner delivers the message: refused once, then accepted.
	deadline := time.Now().Add(45 * time.Second)
	var bodies []json.RawMessage
	var ids []string
	for {
		var bad int
		bodies, ids, bad = rc.received()
		if bad > 0 {
			t.Fatalf("%d deliveries failed the signature check", bad)
		}
		if len(bodies) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(bodies) != 1 {
		t.Fatalf("receiver got %d messages, want 1", len(bodies))
	}
	var msg struct {
		Type string
		Data struct {
			SubjectID     string   `json:"subject_id"`
			RequestID     string   `json:"request_id"`
			Categories    []string `json:"categories"`
			AccountErased bool     `json:"account_erased"`
		}
	}
	if err := json.Unmarshal(bodies[0], &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Type != "subject.erased" || msg.Data.SubjectID != s.ID || msg.Data.RequestID != req.ID ||
		!slices.Equal(msg.Data.Categories, []string{"contact", "usage"}) || msg.Data.AccountErased {
		t.Errorf("message = %s", bodies[0])
	}
	if strings.Contains(string(bodies[0]), "Erin") || strings.Contains(string(bodies[0]), "erin@") {
		t.Errorf("the webhook carries personal data: %s", bodies[0])
	}
	if n := other.requests(); n > 0 {
		t.Errorf("an endpoint not subscribed to subject.erased got %d requests", n)
	}

	var got struct {
		ID         string
		Receipt    string
		Deliveries []webhook.Delivery
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		if resp := f.call(t, "GET", "/erasure-receipts/"+out.ErasureID, headers("Bearer {reader}"), "", &got); resp.StatusCode != 200 {
			t.Fatalf("receipt: %d", resp.StatusCode)
		}
		if len(got.Deliveries) == 1 && got.Deliveries[0].State == webhook.Delivered || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got.Receipt != out.Receipt || len(got.Deliveries) != 1 {
		t.Fatalf("receipt answer = %+v", got)
	}
	d := got.Deliveries[0]
	if d.State != webhook.Delivered || d.Attempts != 2 || d.LastStatus != 204 || d.MsgID != ids[0] || d.Event != "subject.erased" {
		t.Errorf("delivery = %+v, want delivered on the second attempt with 204, msg %s", d, ids[0])
	}

	// Erasures straight through the vault routes are propagated too.
	direct, err := c.CreateSubject(t.Context(), client.NewSubject{Email: "dora@example.org", Data: map[string]any{"usage": map[string]int{"n": 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.EraseData(t.Context(), direct.ID, "usage"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.EraseSubject(t.Context(), direct.ID); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for len(bodies) < 3 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		bodies, _, _ = rc.received()
	}
	if len(bodies) != 3 {
		t.Fatalf("receiver got %d messages, want 3", len(bodies))
	}
	var got2 []string
	for _, b := range bodies[1:] {
		msg := msg
		msg.Data.Categories, msg.Data.AccountErased = nil, false
		if err := json.Unmarshal(b, &msg); err != nil || msg.Data.SubjectID != direct.ID {
			t.Fatalf("message %s: %v", b, err)
		}
		if msg.Data.AccountErased {
			got2 = append(got2, "account")
		} else {
			got2 = append(got2, strings.Join(msg.Data.Categories, ","))
		}
	}
	slices.Sort(got2)
	if !slices.Equal(got2, []string{"account", "usage"}) {
		t.Errorf("direct erasures told %v, want usage, then the account", got2)
	}
}
