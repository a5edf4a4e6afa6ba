package api_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gdprd/gdprd/docs"
	"github.com/gdprd/gdprd/internal/api"
	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/vault"
)

// metricsServer runs the API in process with consent metrics on reg, wired
// as internal/cli wires the real server, and returns its URL and an API
// key holding every scope and its id. The CLI-started server of the other
// tests is the real binary's wiring; this one exists because the metrics
// handle is the api package's own.
func metricsServer(t *testing.T, reg prometheus.Registerer) (base, secret, keyID string) {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	open := func(set string) *sqlstore.DB {
		t.Helper()
		db, err := sqlstore.Open(ctx, sqlstore.Options{URL: filepath.Join(dir, set+".db"), Set: set})
		if err != nil {
			t.Fatalf("open %s store: %v", set, err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	db, keysDB := open("main"), open("keys")
	kr, err := keys.NewKeyring([]byte("gdprd api metrics test master 32"))
	if err != nil {
		t.Fatal(err)
	}
	lg := audit.New(audit.Options{Signer: kr, KeyID: keys.CheckpointKeyID(kr.CheckpointPublicKey())})
	ks, err := vault.OpenKeyStore(ctx, keysDB, kr, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(ctx, vault.Options{DB: db, KeyStore: ks, Keyring: kr, Audit: lg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	apiKeys := auth.NewAPIKeys(db, kr, lg, time.Now)
	register, err := consent.New(consent.Options{DB: db, Audit: lg, Sealer: v, Targets: kr})
	if err != nil {
		t.Fatal(err)
	}
	k, secret, err := apiKeys.Create(ctx, auth.NewKey{Name: "metrics", Scopes: auth.AllScopes})
	if err != nil {
		t.Fatal(err)
	}
	srv := &api.Server{Vault: v, Consent: register, APIKeys: apiKeys, Log: slog.New(slog.DiscardHandler),
		Spec: docs.OpenAPI, ConsentMetrics: api.NewConsentMetrics(reg)}
	ts := httptest.NewServer(srv.Handler(nil))
	t.Cleanup(ts.Close)
	return ts.URL, secret, k.ID
}

// checkCounts reads gdprd_consent_checks_total from reg as
// "key purpose allowed" → count.
func checkCounts(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "gdprd_consent_checks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			out[l["key"]+" "+l["purpose"]+" "+l["allowed"]] = m.GetCounter().GetValue()
		}
	}
	return out
}

// TestConsentCheckMetrics checks that every answered check is counted
// once per key, purpose and answer, single or batched, and that unknown
// purposes, failed checks and other routes add no series.
func TestConsentCheckMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	base, secret, kid := metricsServer(t, reg)
	hc := httpClient(t)
	call := func(t *testing.T, method, path, body string, want int) []byte {
		t.Helper()
		h := map[string]string{"Authorization": "Bearer " + secret}
		var b []byte
		if body != "" {
			h["Content-Type"] = jsonCT
			b = []byte(body)
		}
		resp, out := send(t, hc, method, base+"/api/v1"+path, h, b)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, out)
		}
		return out
	}
	call(t, "POST", "/notices/privacy-policy/versions", `{"body": "# Privacy", "effective_at": "2026-06-01"}`, http.StatusCreated)
	call(t, "POST", "/notices/privacy-policy/versions/1/publish", "", http.StatusOK)
	call(t, "POST", "/purposes", purposeJSON("newsletter", "consent", ""), http.StatusCreated)
	var ids []string
	for i := range 2 {
		var s struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(call(t, "POST", "/subjects", `{"external_id": "m-`+strconv.Itoa(i)+`"}`, http.StatusCreated), &s); err != nil || s.ID == "" {
			t.Fatalf("created subject %+v: %v", s, err)
		}
		ids = append(ids, s.ID)
	}
	call(t, "POST", "/subjects/"+ids[0]+"/consents", `{"purpose": "newsletter", "granted": true, "action": "checkbox", "notice_version": 1}`, http.StatusCreated)
	if got := checkCounts(t, reg); len(got) != 0 {
		t.Fatalf("counted before any check: %v", got)
	}

	for range 3 {
		call(t, "GET", "/subjects/"+ids[0]+"/consents/newsletter", "", http.StatusOK)
	}
	call(t, "GET", "/subjects/"+ids[1]+"/consents/newsletter", "", http.StatusOK)
	call(t, "GET", "/subjects/"+ids[0]+"/consents/service-delivery", "", http.StatusOK)
	call(t, "GET", "/subjects/"+ids[0]+"/consents/horoscope", "", http.StatusNotFound)
	call(t, "GET", "/subjects/sub_"+strings.Repeat("a", 26)+"/consents/newsletter", "", http.StatusNotFound)
	call(t, "GET", "/subjects/"+ids[0]+"/consents", "", http.StatusOK)
	call(t, "POST", "/consents/check", fmt.Sprintf(`{"checks": [
		{"subject_id": %q, "purpose": "newsletter"}, {"subject_id": %q, "purpose": "newsletter"},
		{"subject_id": %[1]q, "purpose": "made-up"}]}`, ids[0], ids[1]), http.StatusOK)

	want := map[string]float64{
		kid + " newsletter true":       4,
		kid + " newsletter false":      2,
		kid + " service-delivery true": 1,
	}
	got := checkCounts(t, reg)
	if len(got) != len(want) {
		t.Errorf("series %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s = %v, want %v", k, got[k], n)
		}
	}
}
