package cli_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/receipt"
)

// TestConsentReceiptVerifiesAgainstServedJWKS: a consent receipt fetched
// from the API verifies against the key set the same server publishes at
// /.well-known/jwks.json, and its claims are the record's.
func TestConsentReceiptVerifiesAgainstServedJWKS(t *testing.T) {
	srv := start(t, "demo", "--data", t.TempDir())
	m := regexp.MustCompile(`export GDPRD_KEY=(\S+)`).FindStringSubmatch(srv.stdout.String())
	if m == nil {
		t.Fatalf("demo printed no API key:\n%s", srv.stdout.String())
	}
	key := m[1]
	var ada struct{ ID string }
	if code := call(t, "POST", srv.base+"/api/v1/subjects/lookup", key, map[string]any{"email": "ada.lovelace@example.org"}, &ada); code != 200 {
		t.Fatalf("lookup: %d", code)
	}
	var notices struct {
		Notices []struct {
			Slug    string
			Current int
		}
	}
	if code := call(t, "GET", srv.base+"/api/v1/notices", key, nil, &notices); code != 200 {
		t.Fatalf("notices: %d", code)
	}
	version := 0
	for _, n := range notices.Notices {
		if n.Slug == "privacy-policy" {
			version = n.Current
		}
	}
	var rec consent.Record
	if code := call(t, "POST", srv.base+"/api/v1/subjects/"+ada.ID+"/consents", key, map[string]any{
		"purpose": "newsletter", "granted": true, "action": "checkbox", "notice_version": version,
	}, &rec); code != 201 {
		t.Fatalf("grant: %d %+v", code, rec)
	}

	var got struct {
		Receipt string `json:"receipt"`
	}
	if code := call(t, "GET", srv.base+"/api/v1/subjects/"+ada.ID+"/consents/newsletter/receipt", key, nil, &got); code != 200 {
		t.Fatalf("receipt: %d", code)
	}
	resp, err := http.Get(srv.base + receipt.JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("JWKS: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var c consent.ReceiptClaims
	if err := receipt.Verify(got.Receipt, set, &c); err != nil {
		t.Fatalf("receipt does not verify against the served JWKS: %v", err)
	}
	if c.ConsentReceiptID != rec.ID || c.PIIPrincipalID != ada.ID || c.ConsentTimestamp != rec.RecordedAt.Unix() ||
		c.Proof.State != "granted" || c.Proof.NoticeSHA256 != rec.NoticeSHA256 || c.CollectionMethod != "api: checkbox" {
		t.Errorf("claims do not match the record %+v:\n%+v", rec, c)
	}
	if !strings.HasSuffix(c.PolicyURL, "/policies/privacy-policy/v/"+strconv.Itoa(version)) {
		t.Errorf("policyUrl = %q", c.PolicyURL)
	}

	// No record for the purpose: no receipt.
	if code := call(t, "GET", srv.base+"/api/v1/subjects/"+ada.ID+"/consents/partner-offers/receipt", key, nil, nil); code != 404 {
		t.Errorf("receipt without a record: %d, want 404", code)
	}
}
