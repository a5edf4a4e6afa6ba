package api_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/client"
	"github.com/gdprd/gdprd/internal/auth"
)

// Scope sets of the consent keys.
var (
	consentReadWrite = []string{auth.ScopeConsentRead, auth.ScopeConsentWrite}
	consentReadOnly  = []string{auth.ScopeConsentRead}
)

// policyBody is version 1 of the privacy policy every consent fixture
// publishes; grants cite it.
const policyBody = "# Privacy Policy\n\nWe send the newsletter only to people who asked for it. You can withdraw at any time."

// consentState is what a failed consent request must leave untouched: the
// register, its cache, the audit log, the purposes and the notices.
type consentState struct {
	Records, States, Audit, Purposes, Versions, Published int
	PurposeStamp                                          int64 // sum of every purpose's updated_at
}

// openRO opens the server's SQLite file through a read-only connection of
// the test's own, independent of the server's code.
func openRO(t *testing.T, dataDir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "gdprd.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatalf("open database read-only: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// consentSnapshot reads consentState from the server's database.
func consentSnapshot(t *testing.T, dataDir string) consentState {
	t.Helper()
	var s consentState
	err := openRO(t, dataDir).QueryRowContext(t.Context(), `SELECT
		(SELECT COUNT(*) FROM consent_records),
		(SELECT COUNT(*) FROM consent_state),
		(SELECT COUNT(*) FROM audit_events),
		(SELECT COUNT(*) FROM purposes),
		(SELECT COUNT(*) FROM notice_versions),
		(SELECT COUNT(*) FROM notice_versions WHERE published_at IS NOT NULL),
		(SELECT COALESCE(SUM(updated_at), 0) FROM purposes)`).
		Scan(&s.Records, &s.States, &s.Audit, &s.Purposes, &s.Versions, &s.Published, &s.PurposeStamp)
	if err != nil {
		t.Fatalf("read consent state: %v", err)
	}
	return s
}

// consentFixture is a running server with a published privacy policy (v1),
// purposes of every kind, consent keys and one grant:
//
//	newsletter   consent, direct marketing (bob granted it)
//	research     consent
//	analytics    legitimate interest
//	health-tips  consent, special categories under explicit consent
//
// Variables: {cwriter} (consent:read, consent:write), {creader}
// (consent:read), the vault keys {writer} and {reader}, subjects {ada},
// {bob} and {erased} (created, then erased), {unknown} (well-formed, never
// existed), and {policy} (the privacy policy's SHA-256).
type consentFixture struct {
	*fixture
}

func newConsentFixture(t *testing.T) *consentFixture {
	t.Helper()
	f := &consentFixture{newFixture(t)}
	f.vars["cwriter"] = apiKey(t, f.dataDir, consentReadWrite, 0)
	f.vars["creader"] = apiKey(t, f.dataDir, consentReadOnly, 0)
	f.publish(t, "privacy-policy", `{"body": `+strconv.Quote(policyBody)+`, "effective_at": "2026-06-01"}`)
	sum := sha256.Sum256([]byte(policyBody))
	f.vars["policy"] = hex.EncodeToString(sum[:])
	for _, p := range []string{
		purposeJSON("newsletter", "consent", `"direct_marketing": true, "categories": ["contact", "marketing"]`),
		purposeJSON("research", "consent", ""),
		purposeJSON("analytics", "legitimate-interest", `"categories": ["usage"]`),
		purposeJSON("health-tips", "consent", `"special_categories": true, "art9_condition": "explicit-consent"`),
	} {
		f.must(t, "POST", "/purposes", "cwriter", p, http.StatusCreated, nil)
	}
	f.must(t, "POST", "/subjects/{bob}/consents", "cwriter",
		`{"purpose": "newsletter", "granted": true, "action": "checkbox", "notice_version": 1}`, http.StatusCreated, nil)

	c := newClient(t, f.base, f.vars["writer"])
	gone, err := c.CreateSubject(t.Context(), client.NewSubject{Email: "gone@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.EraseSubject(t.Context(), gone.ID); err != nil {
		t.Fatal(err)
	}
	f.vars["erased"] = gone.ID
	f.vars["unknown"] = "sub_" + strings.Repeat("a", 26)
	return f
}

// purposeJSON is the body of a valid new purpose with extra fields added.
func purposeJSON(slug, basis, extra string) string {
	if extra != "" {
		extra = ", " + extra
	}
	return fmt.Sprintf(`{"slug": %q, "legal_basis": %q, "retention": "P2Y",
		"names": {"en": "The %[1]s", "de": "Der %[1]s"},
		"descriptions": {"en": "What %[1]s is for.", "de": "Wofür %[1]s ist."}%[3]s}`, slug, basis, extra)
}

// publish drafts a version of notice with the given body and publishes it,
// returning its number.
func (f *consentFixture) publish(t *testing.T, notice, draft string) int {
	t.Helper()
	var v struct {
		Version int `json:"version"`
	}
	f.must(t, "POST", "/notices/"+notice+"/versions", "cwriter", draft, http.StatusCreated, &v)
	f.must(t, "POST", fmt.Sprintf("/notices/%s/versions/%d/publish", notice, v.Version), "cwriter", "", http.StatusOK, nil)
	return v.Version
}

// call sends one API request authorised by the key named keyVar (no
// Authorization when ""), with body as JSON when not "". Placeholders in
// path and body are expanded.
func (f *consentFixture) call(t *testing.T, method, path, keyVar, body string) (*http.Response, []byte) {
	t.Helper()
	h := map[string]string{}
	if keyVar != "" {
		h["Authorization"] = "Bearer " + f.vars[keyVar]
	}
	var b []byte
	if body != "" {
		h["Content-Type"] = jsonCT
		b = []byte(f.expand(body))
	}
	return send(t, f.hc, method, f.base+"/api/v1"+f.expand(path), h, b)
}

// must is call that requires the status want and decodes a JSON answer
// into out when out is not nil.
func (f *consentFixture) must(t *testing.T, method, path, keyVar, body string, want int, out any) *http.Response {
	t.Helper()
	resp, b := f.call(t, method, path, keyVar, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: answer %s: %v", method, path, b, err)
		}
	}
	return resp
}

// refuse runs a scenario that must fail and checks that neither the vault
// nor the consent register, the purposes, the notices or the audit log
// changed.
func (f *consentFixture) refuse(t *testing.T, sc scenario) problem {
	t.Helper()
	before := consentSnapshot(t, f.dataDir)
	p := sc.run(t, f.fixture)
	if after := consentSnapshot(t, f.dataDir); after != before {
		t.Errorf("a failed request changed the register: before %+v, after %+v", before, after)
	}
	return p
}

// cw and cr are the headers of the consent writer and reader keys.
func cw(extra ...string) map[string]string {
	return headers("Bearer {cwriter}", append([]string{"Content-Type", jsonCT}, extra...)...)
}
func cr(extra ...string) map[string]string {
	return headers("Bearer {creader}", append([]string{"Content-Type", jsonCT}, extra...)...)
}

// TestConsentBadRequests drives every way a consent, purpose or notice
// request can be wrong through the real server: each answers a problem
// with a stable code and field, and writes nothing, not even an audit
// event.
func TestConsentBadRequests(t *testing.T) {
	t.Parallel()
	f := newConsentFixture(t)
	grant := func(fields string) string {
		return `{"purpose": "newsletter", "granted": true, "action": "checkbox", "notice_version": 1` + fields + `}`
	}
	pairs := func(n int) string {
		return `{"checks": [` + strings.TrimSuffix(strings.Repeat(`{"subject_id": "{ada}", "purpose": "newsletter"},`, n), ",") + `]}`
	}
	const rec = "/subjects/{ada}/consents"
	scenarios := []scenario{
		// What a record says.
		{name: "unknown purpose", method: "POST", path: rec, headers: cw(),
			body:       `{"purpose": "horoscope", "granted": true, "action": "checkbox", "notice_version": 1}`,
			wantStatus: 400, wantCode: "invalid", wantField: "purpose", wantDetail: "unknown purpose"},
		{name: "unknown notice version", method: "POST", path: rec, headers: cw(),
			body:       `{"purpose": "newsletter", "granted": true, "action": "checkbox", "notice_version": 7}`,
			wantStatus: 400, wantCode: "invalid", wantField: "notice_version"},
		{name: "grant without notice version", method: "POST", path: rec, headers: cw(),
			body:       `{"purpose": "newsletter", "granted": true, "action": "checkbox"}`,
			wantStatus: 400, wantCode: "invalid", wantField: "notice_version"},
		{name: "notice hash of another text", method: "POST", path: rec, headers: cw(),
			body: grant(`, "notice_sha256": "` + strings.Repeat("0", 64) + `"`), wantStatus: 400, wantCode: "invalid", wantField: "notice_sha256"},
		{name: "pre-ticked box", method: "POST", path: rec, headers: cw(),
			body:       `{"purpose": "newsletter", "granted": true, "action": "preticked", "notice_version": 1}`,
			wantStatus: 400, wantCode: "invalid", wantField: "action", wantDetail: "not an affirmative action"},
		{name: "scrolling", method: "POST", path: rec, headers: cw(),
			body:       `{"purpose": "newsletter", "kind": "grant", "action": "scroll", "notice_version": 1}`,
			wantStatus: 400, wantCode: "invalid", wantField: "action", wantDetail: "not an affirmative action"},
		{name: "grant without action", method: "POST", path: rec, headers: cw(),
			body:       `{"purpose": "newsletter", "granted": true, "notice_version": 1}`,
			wantStatus: 400, wantCode: "invalid", wantField: "action"},
		{name: "grant by browser signal", method: "POST", path: rec, headers: cw(),
			body:       `{"purpose": "newsletter", "granted": true, "action": "browser-signal", "notice_version": 1}`,
			wantStatus: 400, wantCode: "invalid", wantField: "action"},
		{name: "explicit consent by a tick", method: "POST", path: rec, headers: cw(),
			body:       `{"purpose": "health-tips", "granted": true, "action": "checkbox", "notice_version": 1}`,
			wantStatus: 400, wantCode: "invalid", wantField: "action", wantDetail: "explicit consent"},
		{name: "grant of a legitimate-interest purpose", method: "POST", path: rec, headers: cw(),
			body:       `{"purpose": "analytics", "granted": true, "action": "checkbox", "notice_version": 1}`,
			wantStatus: 400, wantCode: "invalid", wantField: "purpose", wantDetail: "object to it instead"},
		{name: "grant of a purpose necessary for the service", method: "POST", path: rec, headers: cw(),
			body:       `{"purpose": "service-delivery", "granted": true, "action": "checkbox", "notice_version": 1}`,
			wantStatus: 400, wantCode: "invalid", wantField: "purpose", wantDetail: "closing the account"},
		{name: "withdrawal of a contract purpose", method: "POST", path: rec, headers: cw(),
			body:       `{"purpose": "billing", "granted": false, "action": "toggle"}`,
			wantStatus: 400, wantCode: "invalid", wantField: "purpose"},
		{name: "objection to a consent-only purpose", method: "POST", path: rec, headers: cw(),
			body:       `{"purpose": "research", "kind": "object", "action": "button"}`,
			wantStatus: 400, wantCode: "invalid", wantField: "kind", wantDetail: "withdraw"},
		{name: "kind and granted both", method: "POST", path: rec, headers: cw(),
			body: grant(`, "kind": "grant"`), wantStatus: 400, wantCode: "invalid", wantField: "granted"},
		{name: "neither kind nor granted", method: "POST", path: rec, headers: cw(),
			body:       `{"purpose": "newsletter", "action": "checkbox", "notice_version": 1}`,
			wantStatus: 400, wantCode: "invalid", wantField: "kind"},
		{name: "unknown kind", method: "POST", path: rec, headers: cw(),
			body:       `{"purpose": "newsletter", "kind": "maybe", "action": "checkbox", "notice_version": 1}`,
			wantStatus: 400, wantCode: "invalid", wantField: "kind"},
		{name: "accepting a notice names a purpose", method: "POST", path: rec, headers: cw(),
			body:       `{"kind": "accept-notice", "purpose": "newsletter", "notice": "privacy-policy", "notice_version": 1, "action": "button"}`,
			wantStatus: 400, wantCode: "invalid", wantField: "purpose"},
		{name: "proof with a bad IP address", method: "POST", path: rec, headers: cw(),
			body: grant(`, "proof": {"ip": "999.1.1.1", "user_agent": "Firefox"}`), wantStatus: 400, wantCode: "invalid", wantField: "proof.ip"},
		{name: "proof with an over-long user agent", method: "POST", path: rec, headers: cw(),
			body: grant(`, "proof": {"user_agent": "` + strings.Repeat("x", 600) + `"}`), wantStatus: 400, wantCode: "invalid", wantField: "proof.user_agent"},
		// The body itself.
		{name: "malformed JSON", method: "POST", path: rec, headers: cw(),
			body: `{"purpose": "newsletter", "granted": tru}`, wantStatus: 400, wantCode: "invalid", wantDetail: "malformed JSON"},
		{name: "the channel is not the client's to choose", method: "POST", path: rec, headers: cw(),
			body: grant(`, "channel": "portal"`), wantStatus: 400, wantCode: "invalid", wantField: "channel"},
		{name: "notice version as text", method: "POST", path: rec, headers: cw(),
			body:       `{"purpose": "newsletter", "granted": true, "action": "checkbox", "notice_version": "1"}`,
			wantStatus: 400, wantCode: "invalid", wantField: "notice_version"},
		{name: "text/plain", method: "POST", path: rec, headers: cw("Content-Type", "text/plain"),
			body: grant(""), wantStatus: 415, wantCode: "unsupported_type"},
		{name: "form body", method: "POST", path: rec, headers: cw("Content-Type", "application/x-www-form-urlencoded"),
			body: "purpose=newsletter&granted=true", wantStatus: 415, wantCode: "unsupported_type"},
		{name: "no Content-Type", method: "POST", path: rec, headers: headers("Bearer {cwriter}"),
			body: grant(""), wantStatus: 415, wantCode: "unsupported_type"},
		// Rights and the declared purpose.
		{name: "record with consent:read only", method: "POST", path: rec, headers: cr(),
			body: grant(""), wantStatus: 403, wantCode: "forbidden", wantDetail: "consent:write"},
		{name: "record with a vault key", method: "POST", path: rec, headers: writer("Content-Type", jsonCT),
			body: grant(""), wantStatus: 403, wantCode: "forbidden", wantDetail: "consent:write"},
		{name: "check with a vault key", method: "GET", path: "/subjects/{ada}/consents/newsletter", headers: reader(),
			wantStatus: 403, wantCode: "forbidden", wantDetail: "consent:read"},
		{name: "create a purpose with consent:read only", method: "POST", path: "/purposes", headers: cr(),
			body: purposeJSON("offers", "consent", ""), wantStatus: 403, wantCode: "forbidden"},
		{name: "record under an undeclared purpose", method: "POST", path: rec, headers: cw("Gdprd-Purpose", "fun"),
			body: grant(""), wantStatus: 400, wantCode: "invalid", wantField: "purpose"},
		// Subjects.
		{name: "record for an unknown subject", method: "POST", path: "/subjects/{unknown}/consents", headers: cw(),
			body: grant(""), wantStatus: 404, wantCode: "not_found"},
		{name: "record for an erased subject", method: "POST", path: "/subjects/{erased}/consents", headers: cw(),
			body: grant(""), wantStatus: 404, wantCode: "not_found"},
		{name: "check of an erased subject", method: "GET", path: "/subjects/{erased}/consents/newsletter", headers: cr(),
			wantStatus: 404, wantCode: "not_found"},
		{name: "check of an unknown purpose", method: "GET", path: "/subjects/{ada}/consents/horoscope", headers: cr(),
			wantStatus: 404, wantCode: "not_found"},
		// The batch check.
		{name: "batch over the limit", method: "POST", path: "/consents/check", headers: cr(),
			body: pairs(1001), wantStatus: 400, wantCode: "invalid", wantField: "checks", wantDetail: "at most 1000"},
		{name: "empty batch", method: "POST", path: "/consents/check", headers: cr(),
			body: `{"checks": []}`, wantStatus: 400, wantCode: "invalid", wantField: "checks"},
		{name: "batch pair with an unknown field", method: "POST", path: "/consents/check", headers: cr(),
			body: `{"checks": [{"subject_id": "{ada}", "purpose": "newsletter", "channel": "x"}]}`, wantStatus: 400, wantCode: "invalid", wantField: "channel"},
		// The stream.
		{name: "stream of those not allowed", method: "GET", path: "/purposes/newsletter/subjects?allowed=false", headers: cr(),
			wantStatus: 400, wantCode: "invalid", wantField: "allowed"},
		{name: "stream without allowed", method: "GET", path: "/purposes/newsletter/subjects", headers: cr(),
			wantStatus: 400, wantCode: "invalid", wantField: "allowed"},
		{name: "stream with allowed twice", method: "GET", path: "/purposes/newsletter/subjects?allowed=true&allowed=false", headers: cr(),
			wantStatus: 400, wantCode: "invalid", wantField: "allowed"},
		{name: "stream of an unknown purpose", method: "GET", path: "/purposes/horoscope/subjects?allowed=true", headers: cr(),
			wantStatus: 404, wantCode: "not_found"},
		// Purposes.
		{name: "duplicate purpose", method: "POST", path: "/purposes", headers: cw(),
			body: purposeJSON("newsletter", "consent", ""), wantStatus: 409, wantCode: "conflict", wantField: "slug"},
		{name: "consent purpose necessary for the service", method: "POST", path: "/purposes", headers: cw(),
			body: purposeJSON("offers", "consent", `"necessary": true`), wantStatus: 400, wantCode: "invalid", wantField: "necessary"},
		{name: "purpose without a German name", method: "POST", path: "/purposes", headers: cw(),
			body:       `{"slug": "offers", "legal_basis": "consent", "retention": "P1Y", "names": {"en": "Offers"}, "descriptions": {"en": "Offers."}}`,
			wantStatus: 400, wantCode: "invalid", wantField: "names.de"},
		{name: "purpose with times of its own", method: "POST", path: "/purposes", headers: cw(),
			body:       strings.TrimSuffix(purposeJSON("offers", "consent", ""), "}") + `, "created_at": "2020-01-01T00:00:00Z"}`,
			wantStatus: 400, wantCode: "invalid", wantField: "created_at"},
		{name: "purpose with an unknown basis", method: "POST", path: "/purposes", headers: cw(),
			body: purposeJSON("offers", "because", ""), wantStatus: 400, wantCode: "invalid", wantField: "legal_basis"},
		{name: "patch without If-Match", method: "PATCH", path: "/purposes/research", headers: cw(),
			body: `{"retention": "P1Y"}`, wantStatus: 400, wantCode: "invalid", wantField: "If-Match"},
		{name: "patch with a malformed If-Match", method: "PATCH", path: "/purposes/research", headers: cw("If-Match", "yesterday"),
			body: `{"retention": "P1Y"}`, wantStatus: 400, wantCode: "invalid", wantField: "If-Match"},
		{name: "patch with an unquoted ETag", method: "PATCH", path: "/purposes/research", headers: cw("If-Match", "1795888260452124"),
			body: `{"retention": "P1Y"}`, wantStatus: 400, wantCode: "invalid", wantField: "If-Match"},
		{name: "patch with a stale ETag", method: "PATCH", path: "/purposes/research", headers: cw("If-Match", `"1"`),
			body: `{"retention": "P1Y"}`, wantStatus: 409, wantCode: "conflict", wantDetail: "read it again"},
		{name: "patch with a weak ETag", method: "PATCH", path: "/purposes/research", headers: cw("If-Match", `W/"1"`),
			body: `{"retention": "P1Y"}`, wantStatus: 409, wantCode: "conflict"},
		{name: "empty patch", method: "PATCH", path: "/purposes/research", headers: cw("If-Match", "*"),
			body: `{}`, wantStatus: 400, wantCode: "invalid"},
		{name: "patch of an unknown purpose", method: "PATCH", path: "/purposes/horoscope", headers: cw("If-Match", "*"),
			body: `{"retention": "P1Y"}`, wantStatus: 404, wantCode: "not_found"},
		{name: "patch with a bad retention", method: "PATCH", path: "/purposes/research", headers: cw("If-Match", "*"),
			body: `{"retention": "forever"}`, wantStatus: 400, wantCode: "invalid", wantField: "retention"},
		{name: "basis changed away from consent that people gave", method: "PATCH", path: "/purposes/newsletter", headers: cw("If-Match", "*"),
			body: `{"legal_basis": "legitimate-interest"}`, wantStatus: 409, wantCode: "conflict", wantDetail: "declare a new purpose"},
		// Notices.
		{name: "draft of an unknown notice", method: "POST", path: "/notices/horoscope/versions", headers: cw(),
			body: `{"body": "# Stars", "effective_at": "2026-07-01"}`, wantStatus: 404, wantCode: "not_found"},
		{name: "material draft without a summary", method: "POST", path: "/notices/privacy-policy/versions", headers: cw(),
			body: `{"body": "# New", "effective_at": "2026-07-01", "material": true}`, wantStatus: 400, wantCode: "invalid", wantField: "summary"},
		{name: "draft with a bad date", method: "POST", path: "/notices/privacy-policy/versions", headers: cw(),
			body: `{"body": "# New", "effective_at": "next week"}`, wantStatus: 400, wantCode: "invalid", wantField: "effective_at"},
		{name: "publish a published version", method: "POST", path: "/notices/privacy-policy/versions/1/publish", headers: cw(),
			wantStatus: 409, wantCode: "conflict"},
		{name: "publish a version that does not exist", method: "POST", path: "/notices/privacy-policy/versions/99/publish", headers: cw(),
			wantStatus: 404, wantCode: "not_found"},
		{name: "version that is not a number", method: "GET", path: "/notices/privacy-policy/versions/latest", headers: cr(),
			wantStatus: 404, wantCode: "not_found"},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { f.refuse(t, sc) })
	}
}

// TestConsentNotFoundIsIndistinguishable checks that on every consent
// operation about a subject an erased subject answers exactly like one
// that never existed and like a malformed id, and that none writes.
func TestConsentNotFoundIsIndistinguishable(t *testing.T) {
	t.Parallel()
	f := newConsentFixture(t)
	f.vars["malformed"] = "not-a-subject-id"
	ops := []struct{ name, method, path, body string }{
		{"record", "POST", "/subjects/{id}/consents", `{"purpose": "newsletter", "granted": true, "action": "checkbox", "notice_version": 1}`},
		{"state", "GET", "/subjects/{id}/consents", ""},
		{"check", "GET", "/subjects/{id}/consents/newsletter", ""},
		{"notices", "GET", "/subjects/{id}/notices", ""},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			bodies := map[string]string{}
			for _, variant := range []string{"erased", "unknown", "malformed"} {
				p := f.refuse(t, scenario{
					method: op.method, path: strings.ReplaceAll(op.path, "{id}", "{"+variant+"}"),
					headers: cw(), body: op.body, wantStatus: 404, wantCode: "not_found",
				})
				p.RequestID = ""
				b, _ := json.Marshal(p)
				bodies[variant] = string(b)
			}
			if bodies["erased"] != bodies["unknown"] || bodies["malformed"] != bodies["unknown"] {
				t.Errorf("answers differ:\nerased    %s\nunknown   %s\nmalformed %s", bodies["erased"], bodies["unknown"], bodies["malformed"])
			}
		})
	}
}

// record is a consent record as the API answers it, decoded strictly
// enough to see every field.
type record struct {
	Seq           int64  `json:"seq"`
	ID            string `json:"id"`
	SubjectID     string `json:"subject_id"`
	Kind          string `json:"kind"`
	Purpose       string `json:"purpose"`
	Notice        string `json:"notice"`
	NoticeVersion int    `json:"notice_version"`
	NoticeSHA256  string `json:"notice_sha256"`
	Channel       string `json:"channel"`
	Action        string `json:"action"`
	RecordedAt    string `json:"recorded_at"`
	RecordedBy    string `json:"recorded_by"`
	AuditSeq      int64  `json:"audit_seq"`
}

// decision is the answer of a check.
type decision struct {
	SubjectID string  `json:"subject_id"`
	Purpose   string  `json:"purpose"`
	Allowed   bool    `json:"allowed"`
	Basis     string  `json:"basis"`
	Since     *string `json:"since"`
	Reason    string  `json:"reason"`
	RecordID  string  `json:"record_id"`
}

// TestConsentLifecycle grants, checks, withdraws and checks again through
// the API, and asserts what each step writes: a record and one audit event
// per grant or withdrawal, nothing at all per check.
func TestConsentLifecycle(t *testing.T) {
	t.Parallel()
	f := newConsentFixture(t)
	check := func(t *testing.T, subject, purpose string) decision {
		t.Helper()
		var d decision
		f.must(t, "GET", "/subjects/"+subject+"/consents/"+purpose, "creader", "", http.StatusOK, &d)
		return d
	}

	if d := check(t, "{ada}", "newsletter"); d.Allowed || d.Reason != "no-consent" || d.Since != nil || d.RecordID != "" {
		t.Errorf("before any record: %+v, want not allowed, no-consent", d)
	}

	// Grant, relaying the person's IP address and browser as proof.
	before := consentSnapshot(t, f.dataDir)
	resp, body := f.call(t, "POST", "/subjects/{ada}/consents", "cwriter",
		`{"purpose": "newsletter", "granted": true, "action": "checkbox", "notice_version": 1, "notice_sha256": "{policy}",
		  "proof": {"ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (X11; Linux) ProofBrowser/1"}}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("grant: %d %s", resp.StatusCode, body)
	}
	var granted record
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&granted); err != nil {
		t.Fatalf("grant answer %s: %v (the record must hold exactly the documented fields, never the proof)", body, err)
	}
	if bytes.Contains(body, []byte("203.0.113.7")) || bytes.Contains(body, []byte("ProofBrowser")) {
		t.Errorf("the answer reveals the proof: %s", body)
	}
	want := record{Seq: granted.Seq, ID: granted.ID, SubjectID: f.vars["ada"], Kind: "grant", Purpose: "newsletter",
		Notice: "privacy-policy", NoticeVersion: 1, NoticeSHA256: f.vars["policy"], Channel: "api", Action: "checkbox",
		RecordedAt: granted.RecordedAt, RecordedBy: "apikey:" + keyID(f.vars["cwriter"]), AuditSeq: granted.AuditSeq}
	if granted != want || !strings.HasPrefix(granted.ID, "cr_") || granted.AuditSeq == 0 || granted.RecordedAt == "" {
		t.Errorf("grant answered\n%+v\nwant\n%+v", granted, want)
	}
	after := consentSnapshot(t, f.dataDir)
	if after.Records != before.Records+1 || after.Audit != before.Audit+1 {
		t.Errorf("a grant wrote %d records and %d audit events, want 1 and 1", after.Records-before.Records, after.Audit-before.Audit)
	}
	var proof []byte
	if err := openRO(t, f.dataDir).QueryRowContext(t.Context(), "SELECT proof FROM consent_records WHERE id = ?", granted.ID).Scan(&proof); err != nil {
		t.Fatal(err)
	}
	if len(proof) == 0 || bytes.Contains(proof, []byte("203.0.113.7")) || bytes.Contains(proof, []byte("ProofBrowser")) {
		t.Errorf("stored proof is %d bytes and not sealed: %q", len(proof), proof)
	}

	// Checks see the grant at once and write nothing.
	before = consentSnapshot(t, f.dataDir)
	for range 20 {
		d := check(t, "{ada}", "newsletter")
		if !d.Allowed || d.Reason != "granted" || d.Basis != "consent" || d.RecordID != granted.ID || d.Since == nil || *d.Since != granted.RecordedAt {
			t.Fatalf("after the grant: %+v, want allowed by record %s since %s", d, granted.ID, granted.RecordedAt)
		}
	}
	if after := consentSnapshot(t, f.dataDir); after != before {
		t.Errorf("20 checks changed the database: %+v → %+v (checks are counted, never audited one by one)", before, after)
	}

	// The state lists every purpose with the record proving it.
	var state struct {
		SubjectID string `json:"subject_id"`
		Consents  []struct {
			Purpose string  `json:"purpose"`
			Basis   string  `json:"basis"`
			Allowed bool    `json:"allowed"`
			Reason  string  `json:"reason"`
			Record  *record `json:"record"`
		} `json:"consents"`
	}
	f.must(t, "GET", "/subjects/{ada}/consents", "creader", "", http.StatusOK, &state)
	got := map[string]string{}
	for _, c := range state.Consents {
		got[c.Purpose] = fmt.Sprintf("%s %v %s", c.Basis, c.Allowed, c.Reason)
		if c.Purpose == "newsletter" && (c.Record == nil || *c.Record != granted) {
			t.Errorf("newsletter proven by %+v, want the grant %+v", c.Record, granted)
		}
		if c.Purpose != "newsletter" && c.Record != nil {
			t.Errorf("%s carries a record %+v but none was made", c.Purpose, c.Record)
		}
	}
	for purpose, want := range map[string]string{
		"newsletter": "consent true granted", "research": "consent false no-consent",
		"analytics": "legitimate-interest true legal-basis", "service-delivery": "contract true legal-basis",
	} {
		if got[purpose] != want {
			t.Errorf("state of %s = %q, want %q", purpose, got[purpose], want)
		}
	}
	if state.SubjectID != f.vars["ada"] {
		t.Errorf("state of subject %q", state.SubjectID)
	}

	// Withdrawing is as easy as granting: one request, no notice needed.
	var withdrawn record
	f.must(t, "POST", "/subjects/{ada}/consents", "cwriter", `{"purpose": "newsletter", "granted": false, "action": "toggle"}`,
		http.StatusCreated, &withdrawn)
	if withdrawn.Kind != "withdraw" || withdrawn.Seq <= granted.Seq {
		t.Errorf("withdrawal recorded as %+v", withdrawn)
	}
	if d := check(t, "{ada}", "newsletter"); d.Allowed || d.Reason != "withdrawn" || d.RecordID != withdrawn.ID {
		t.Errorf("after the withdrawal: %+v, want not allowed by record %s", d, withdrawn.ID)
	}
	// An objection to legitimate-interest processing, with the kind named:
	// the purpose is restricted for the person until staff decide (Art.
	// 18(1)(d)).
	f.must(t, "POST", "/subjects/{ada}/consents", "cwriter", `{"purpose": "analytics", "kind": "object", "action": "button"}`, http.StatusCreated, nil)
	if d := check(t, "{ada}", "analytics"); d.Allowed || d.Reason != "restricted" {
		t.Errorf("after the objection: %+v", d)
	}

	// The batch answers in order, from the same state.
	var batch struct {
		Results []decision `json:"results"`
	}
	f.must(t, "POST", "/consents/check", "creader", `{"checks": [
		{"subject_id": "{ada}", "purpose": "newsletter"},
		{"subject_id": "{bob}", "purpose": "newsletter"},
		{"subject_id": "{erased}", "purpose": "newsletter"},
		{"subject_id": "{bob}", "purpose": "horoscope"},
		{"subject_id": "{ada}", "purpose": "service-delivery"},
		{"subject_id": "{ada}", "purpose": "analytics"},
		{"subject_id": "{bob}", "purpose": "newsletter"}]}`, http.StatusOK, &batch)
	wantBatch := []string{
		"{ada} newsletter false withdrawn", "{bob} newsletter true granted", "{erased} newsletter false unknown-subject",
		"{bob} horoscope false unknown-purpose", "{ada} service-delivery true legal-basis", "{ada} analytics false restricted",
		"{bob} newsletter true granted",
	}
	if len(batch.Results) != len(wantBatch) {
		t.Fatalf("%d results, want %d", len(batch.Results), len(wantBatch))
	}
	for i, r := range batch.Results {
		if g, w := fmt.Sprintf("%s %s %v %s", r.SubjectID, r.Purpose, r.Allowed, r.Reason), f.expand(wantBatch[i]); g != w {
			t.Errorf("result %d = %q, want %q", i, g, w)
		}
	}
}

// TestConsentStream creates 50 subjects through the API, lets some grant
// the newsletter (and one of them withdraw again), and checks that the
// stream lists exactly those who are allowed, one JSON object per line,
// in order.
func TestConsentStream(t *testing.T) {
	t.Parallel()
	f := newConsentFixture(t)
	c := newClient(t, f.base, f.vars["writer"])
	want := []string{f.vars["bob"]} // granted in the fixture
	for i := range 50 {
		s, err := c.CreateSubject(t.Context(), client.NewSubject{ExternalID: "stream-" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		if i%3 != 0 {
			continue
		}
		f.must(t, "POST", "/subjects/"+s.ID+"/consents", "cwriter",
			`{"purpose": "newsletter", "granted": true, "action": "toggle", "notice_version": 1}`, http.StatusCreated, nil)
		if i == 9 {
			f.must(t, "POST", "/subjects/"+s.ID+"/consents", "cwriter",
				`{"purpose": "newsletter", "granted": false, "action": "toggle"}`, http.StatusCreated, nil)
			continue
		}
		want = append(want, s.ID)
	}
	slices.Sort(want)

	stream := func(t *testing.T, purpose string) []string {
		t.Helper()
		resp, body := f.call(t, "GET", "/purposes/"+purpose+"/subjects?allowed=true", "creader", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %s: %d %s", purpose, resp.StatusCode, body)
		}
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/x-ndjson" {
			t.Errorf("Content-Type = %q, want application/x-ndjson", resp.Header.Get("Content-Type"))
		}
		var ids []string
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			var line map[string]string
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil || len(line) != 1 || line["subject_id"] == "" {
				t.Fatalf("line %q is not {\"subject_id\": …}: %v", sc.Text(), err)
			}
			ids = append(ids, line["subject_id"])
		}
		if len(body) > 0 && body[len(body)-1] != '\n' {
			t.Error("the stream does not end with a newline")
		}
		return ids
	}
	if got := stream(t, "newsletter"); !slices.Equal(got, want) {
		t.Errorf("stream lists %d subjects, want %d:\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	if got := stream(t, "research"); len(got) != 0 {
		t.Errorf("nobody granted research, but the stream lists %v", got)
	}
}

// TestReacceptance publishes a material change of the privacy policy and
// follows who must accept it again, through accept-notice records.
func TestReacceptance(t *testing.T) {
	t.Parallel()
	f := newConsentFixture(t)
	type pending struct {
		SubjectID         string `json:"subject_id"`
		NeedsReacceptance bool   `json:"needs_reacceptance"`
		Notices           []struct {
			Notice  string `json:"notice"`
			Version int    `json:"version"`
			SHA256  string `json:"sha256"`
			Summary string `json:"summary"`
		} `json:"notices"`
	}
	needs := func(t *testing.T, subject string) string {
		t.Helper()
		var p pending
		f.must(t, "GET", "/subjects/"+subject+"/notices", "creader", "", http.StatusOK, &p)
		var parts []string
		for _, n := range p.Notices {
			parts = append(parts, fmt.Sprintf("%s v%d (%s)", n.Notice, n.Version, n.Summary))
			if len(n.SHA256) != 64 {
				t.Errorf("notice %s v%d has hash %q", n.Notice, n.Version, n.SHA256)
			}
		}
		if p.NeedsReacceptance != (len(p.Notices) > 0) || p.SubjectID != f.expand(subject) {
			t.Errorf("answer %+v is inconsistent", p)
		}
		return strings.Join(parts, ", ")
	}
	accept := func(t *testing.T, subject string, version int) {
		t.Helper()
		f.must(t, "POST", "/subjects/"+subject+"/consents", "cwriter", fmt.Sprintf(
			`{"kind": "accept-notice", "notice": "privacy-policy", "notice_version": %d, "action": "button"}`, version), http.StatusCreated, nil)
	}

	accept(t, "{ada}", 1)
	if got := needs(t, "{ada}") + "|" + needs(t, "{bob}"); got != "|" {
		t.Errorf("before any material change: %q, want nothing", got)
	}
	v2 := f.publish(t, "privacy-policy", `{"body": "# Privacy Policy\n\nWe now share data with partners.", "effective_at": "2026-09-01T00:00:00Z",
		"material": true, "summary": "Partners"}`)
	if v2 != 2 {
		t.Fatalf("second version is %d", v2)
	}
	for _, s := range []string{"{ada}", "{bob}"} {
		if got := needs(t, s); got != "privacy-policy v2 (Partners)" {
			t.Errorf("%s after a material change: %q", s, got)
		}
	}
	// The old version can no longer be granted or accepted on.
	f.refuse(t, scenario{method: "POST", path: "/subjects/{ada}/consents", headers: cw(),
		body:       `{"purpose": "research", "granted": true, "action": "checkbox", "notice_version": 1}`,
		wantStatus: 400, wantCode: "invalid", wantField: "notice_version", wantDetail: "not the current one"})

	accept(t, "{ada}", 2)
	if got := needs(t, "{ada}"); got != "" {
		t.Errorf("ada accepted v2 but still needs %q", got)
	}
	// A minor version asks nobody again; bob still owes the material one.
	f.publish(t, "privacy-policy", `{"body": "# Privacy Policy\n\nTypo fixed.", "effective_at": "2026-10-01"}`)
	if got := needs(t, "{ada}") + "|" + needs(t, "{bob}"); got != "|privacy-policy v3 ()" {
		t.Errorf("after a minor change: %q, want only bob, shown the current v3", got)
	}

	var notices struct {
		Notices []struct {
			Slug    string `json:"slug"`
			Current int    `json:"current"`
		} `json:"notices"`
	}
	f.must(t, "GET", "/notices", "creader", "", http.StatusOK, &notices)
	current := map[string]int{}
	for _, n := range notices.Notices {
		current[n.Slug] = n.Current
	}
	if current["privacy-policy"] != 3 || current["terms-of-use"] != 0 || len(current) < 4 {
		t.Errorf("notices = %v, want privacy-policy at 3 and terms-of-use unpublished", current)
	}
	var v struct {
		Body        string  `json:"body"`
		SHA256      string  `json:"sha256"`
		PublishedAt *string `json:"published_at"`
	}
	f.must(t, "GET", "/notices/privacy-policy/versions/1", "creader", "", http.StatusOK, &v)
	if v.Body != policyBody || v.SHA256 != f.vars["policy"] || v.PublishedAt == nil {
		t.Errorf("version 1 = %+v", v)
	}
}

// TestPurposesAPI creates, reads, lists and changes a purpose, checking
// the ETag guard against lost updates and that each change is audited.
func TestPurposesAPI(t *testing.T) {
	t.Parallel()
	f := newConsentFixture(t)
	type purpose struct {
		Slug      string            `json:"slug"`
		Names     map[string]string `json:"names"`
		Basis     string            `json:"legal_basis"`
		Retention string            `json:"retention"`
		Notice    string            `json:"notice"`
		UpdatedAt string            `json:"updated_at"`
	}
	before := consentSnapshot(t, f.dataDir)
	var created purpose
	resp := f.must(t, "POST", "/purposes", "cwriter", purposeJSON("offers", "legitimate-interest", `"retention": "90"`), http.StatusCreated, &created)
	etag := resp.Header.Get("ETag")
	if created.Slug != "offers" || created.Retention != "P90D" || created.Notice != "privacy-policy" || etag == "" {
		t.Errorf("created %+v with ETag %q", created, etag)
	}
	if loc := resp.Header.Get("Location"); loc != "/api/v1/purposes/offers" {
		t.Errorf("Location = %q", loc)
	}
	if after := consentSnapshot(t, f.dataDir); after.Purposes != before.Purposes+1 || after.Audit != before.Audit+1 {
		t.Errorf("create: %+v → %+v, want one more purpose and one audit event", before, after)
	}

	var read purpose
	if got := f.must(t, "GET", "/purposes/offers", "creader", "", http.StatusOK, &read).Header.Get("ETag"); got != etag || read.UpdatedAt != created.UpdatedAt {
		t.Errorf("GET answers ETag %q (%s), created %q (%s)", got, read.UpdatedAt, etag, created.UpdatedAt)
	}
	var list struct {
		Purposes []purpose `json:"purposes"`
	}
	f.must(t, "GET", "/purposes", "creader", "", http.StatusOK, &list)
	var slugs []string
	for _, p := range list.Purposes {
		slugs = append(slugs, p.Slug)
	}
	for _, s := range []string{"newsletter", "offers", "service-delivery"} {
		if !slices.Contains(slugs, s) {
			t.Errorf("list %v lacks %s", slugs, s)
		}
	}

	// A patch with the current ETag changes only what it names.
	patch := func(t *testing.T, ifMatch, body string) (*http.Response, []byte) {
		t.Helper()
		return send(t, f.hc, "PATCH", f.base+"/api/v1/purposes/offers",
			headers("Bearer "+f.vars["cwriter"], "Content-Type", jsonCT, "If-Match", ifMatch), []byte(body))
	}
	before = consentSnapshot(t, f.dataDir)
	resp, body := patch(t, etag, `{"retention": "P1Y", "names": {"en": "Partner offers", "de": "Partnerangebote"}}`)
	var changed purpose
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &changed) != nil {
		t.Fatalf("patch: %d %s", resp.StatusCode, body)
	}
	newTag := resp.Header.Get("ETag")
	if changed.Retention != "P1Y" || changed.Names["de"] != "Partnerangebote" || changed.Basis != "legitimate-interest" || newTag == etag || newTag == "" {
		t.Errorf("after the patch: %+v, ETag %q (was %q)", changed, newTag, etag)
	}
	if after := consentSnapshot(t, f.dataDir); after.Audit != before.Audit+1 || after.PurposeStamp == before.PurposeStamp {
		t.Errorf("patch: %+v → %+v, want one audit event and a new updated_at", before, after)
	}
	// The ETag read before that change is stale now: a lost update refused.
	f.refuse(t, scenario{method: "PATCH", path: "/purposes/offers", headers: cw("If-Match", etag),
		body: `{"retention": "P5Y"}`, wantStatus: 409, wantCode: "conflict"})
	// The fresh one works.
	if resp, body := patch(t, newTag, `{"retention": "P2Y"}`); resp.StatusCode != http.StatusOK {
		t.Errorf("patch with the current ETag: %d %s", resp.StatusCode, body)
	}
}
