package api_test

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/export"
	"github.com/gdprd/gdprd/internal/web"
)

// dsrState counts what a refused request must not have written.
type dsrState struct {
	Requests, Events, Keys, Links int
}

func dsrSnapshot(t *testing.T, dataDir string) dsrState {
	t.Helper()
	db := openRO(t, dataDir)
	var s dsrState
	err := db.QueryRowContext(t.Context(), `SELECT (SELECT COUNT(*) FROM requests), (SELECT COUNT(*) FROM request_events),
		(SELECT COUNT(*) FROM request_idempotency), (SELECT COUNT(*) FROM export_links)`).Scan(&s.Requests, &s.Events, &s.Keys, &s.Links)
	if err != nil {
		t.Fatalf("read dsr state: %v", err)
	}
	return s
}

// newDSRFixture is newFixture with a key {dsr} holding dsr:read and
// dsr:write (and the vault scopes), and {dsrread} holding dsr:read only.
func newDSRFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.vars["dsr"] = apiKey(t, f.dataDir, []string{auth.ScopeDSRRead, auth.ScopeDSRWrite, auth.ScopeVaultRead, auth.ScopeVaultWrite}, 0)
	f.vars["dsrread"] = apiKey(t, f.dataDir, []string{auth.ScopeDSRRead}, 0)
	return f
}

func dsrW(kv ...string) map[string]string { return headers("Bearer {dsr}", kv...) }

// apiRequest is the part of a request answer these tests read.
type apiRequest struct {
	ID          string          `json:"id"`
	SubjectID   string          `json:"subject_id"`
	Kind        string          `json:"kind"`
	Channel     string          `json:"channel"`
	State       string          `json:"state"`
	Details     json.RawMessage `json:"details"`
	ReceivedAt  time.Time       `json:"received_at"`
	LegalDueAt  time.Time       `json:"legal_due_at"`
	TargetDueAt time.Time       `json:"target_due_at"`
	Merged      bool            `json:"merged"`
	Version     int             `json:"version"`
}

// call sends one request below /api/v1 with placeholders expanded and
// decodes a JSON answer into out (when not nil).
func (f *fixture) call(t *testing.T, method, path string, hdr map[string]string, body string, out any) *http.Response {
	t.Helper()
	h := map[string]string{}
	for k, v := range hdr {
		h[k] = f.expand(v)
	}
	var b []byte
	if body != "" {
		b = []byte(f.expand(body))
		h["Content-Type"] = jsonCT
	}
	resp, rb := send(t, f.hc, method, f.base+"/api/v1"+f.expand(path), h, b)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(rb, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, rb)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s → %d %s", method, path, resp.StatusCode, rb)
	}
	return resp
}

func TestRequestsAPI(t *testing.T) {
	t.Parallel()
	f := newDSRFixture(t)
	before := time.Now().Add(-time.Second)

	var first apiRequest
	resp := f.call(t, "POST", "/requests", dsrW("Idempotency-Key", "k-1"), `{"subject_id":"{ada}","kind":"access"}`, &first)
	if resp.StatusCode != 201 {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	if first.State != "received" || first.Channel != "api" || first.SubjectID != f.vars["ada"] || first.Kind != "access" {
		t.Errorf("submitted request = %+v", first)
	}
	if first.ReceivedAt.Before(before) || first.LegalDueAt.Before(first.ReceivedAt.AddDate(0, 1, -1)) || first.TargetDueAt.After(first.LegalDueAt) {
		t.Errorf("deadlines: received %v, legal %v, target %v", first.ReceivedAt, first.LegalDueAt, first.TargetDueAt)
	}
	if got := resp.Header.Get("Location"); got != "/api/v1/requests/"+first.ID {
		t.Errorf("Location = %q", got)
	}
	state := dsrSnapshot(t, f.dataDir)

	t.Run("replay", func(t *testing.T) {
		var again apiRequest
		resp := f.call(t, "POST", "/requests", dsrW("Idempotency-Key", "k-1"), `{"subject_id":"{ada}","kind":"access"}`, &again)
		if resp.StatusCode != 201 || again.ID != first.ID || resp.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay: %d %q, id %s want %s", resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), again.ID, first.ID)
		}
		if after := dsrSnapshot(t, f.dataDir); after != state {
			t.Errorf("a replay wrote: %+v → %+v", state, after)
		}
	})

	t.Run("duplicate is merged", func(t *testing.T) {
		var merged apiRequest
		resp := f.call(t, "POST", "/requests", dsrW("Idempotency-Key", "k-2"), `{"subject_id":"{ada}","kind":"access"}`, &merged)
		if resp.StatusCode != 200 || !merged.Merged || merged.ID != first.ID {
			t.Errorf("duplicate: %d merged=%v id %s, want 200, merged, %s", resp.StatusCode, merged.Merged, merged.ID, first.ID)
		}
		if !merged.LegalDueAt.Equal(first.LegalDueAt) || merged.Version != first.Version+1 {
			t.Errorf("merged request moved its deadline or did not record the merge: %+v", merged)
		}
		if got := dsrSnapshot(t, f.dataDir); got.Requests != state.Requests {
			t.Errorf("a merge created a request")
		}
	})

	var erasure, objection apiRequest
	if resp := f.call(t, "POST", "/requests", dsrW("Idempotency-Key", "k-3"), `{"subject_id":"{ada}","kind":"erasure","categories":["contact","marketing"]}`, &erasure); resp.StatusCode != 201 {
		t.Fatalf("erasure: %d", resp.StatusCode)
	}
	if !strings.Contains(string(erasure.Details), `"categories":["contact","marketing"]`) {
		t.Errorf("erasure details = %s", erasure.Details)
	}
	back := time.Now().Add(-72 * time.Hour).UTC().Format(time.RFC3339)
	if resp := f.call(t, "POST", "/requests", dsrW("Idempotency-Key", "k-4"),
		`{"subject_id":"{bob}","kind":"objection","details":{"purposes":["security"]},"received_at":"`+back+`"}`, &objection); resp.StatusCode != 201 {
		t.Fatalf("objection: %d", resp.StatusCode)
	}
	if !objection.TargetDueAt.Before(first.TargetDueAt) {
		t.Errorf("a back-dated request is not due sooner: %v vs %v", objection.TargetDueAt, first.TargetDueAt)
	}

	t.Run("get", func(t *testing.T) {
		var got apiRequest
		if resp := f.call(t, "GET", "/requests/"+erasure.ID, headers("Bearer {dsrread}"), "", &got); resp.StatusCode != 200 {
			t.Fatalf("get: %d", resp.StatusCode)
		}
		if got.ID != erasure.ID || !got.LegalDueAt.Equal(erasure.LegalDueAt) || got.State != "received" {
			t.Errorf("get = %+v, want %+v", got, erasure)
		}
	})

	t.Run("list pages in target order", func(t *testing.T) {
		var ids []string
		var dues []time.Time
		cursor := ""
		for range 10 {
			var page struct {
				Requests   []apiRequest `json:"requests"`
				NextCursor string       `json:"next_cursor"`
			}
			path := "/requests?limit=1"
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			if resp := f.call(t, "GET", path, headers("Bearer {dsrread}"), "", &page); resp.StatusCode != 200 {
				t.Fatalf("list: %d", resp.StatusCode)
			}
			for _, r := range page.Requests {
				ids = append(ids, r.ID)
				dues = append(dues, r.TargetDueAt)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		want := []string{objection.ID, first.ID, erasure.ID}
		if dues[1].Equal(dues[2]) && erasure.ID < first.ID {
			want = []string{objection.ID, erasure.ID, first.ID}
		}
		if !reflect.DeepEqual(ids, want) {
			t.Errorf("pages = %v, want %v", ids, want)
		}
		if !sort.SliceIsSorted(dues, func(i, j int) bool { return dues[i].Before(dues[j]) }) {
			t.Errorf("not sorted by target_due_at: %v", dues)
		}
		var page struct{ Requests []apiRequest }
		f.call(t, "GET", "/requests?kind=erasure,objection&state=received", headers("Bearer {dsrread}"), "", &page)
		if len(page.Requests) != 2 || page.Requests[0].ID != objection.ID || page.Requests[1].ID != erasure.ID {
			t.Errorf("filtered list = %+v", page.Requests)
		}
	})

	t.Run("withdraw", func(t *testing.T) {
		var got apiRequest
		if resp := f.call(t, "POST", "/requests/"+erasure.ID+"/transitions", dsrW(), `{"to":"withdrawn","reason":"the person changed their mind"}`, &got); resp.StatusCode != 200 {
			t.Fatalf("withdraw: %d", resp.StatusCode)
		}
		if got.State != "withdrawn" {
			t.Errorf("state = %s", got.State)
		}
		before := dsrSnapshot(t, f.dataDir)
		resp, body := send(t, f.hc, "POST", f.base+"/api/v1/requests/"+erasure.ID+"/transitions",
			map[string]string{"Authorization": "Bearer " + f.vars["dsr"], "Content-Type": jsonCT}, []byte(`{"to":"withdrawn"}`))
		wantProblem(t, resp, body, 409, "conflict", "", f.dataDir)
		if after := dsrSnapshot(t, f.dataDir); after != before {
			t.Errorf("a refused transition wrote")
		}
	})
}

// TestRequestDeadlinesThroughAPI checks the wiring of the deadline
// calculator with the worked example of gdpr-requirements 1.0: received
// Wednesday 2025-03-05, the month ends on Saturday 2025-04-05 (the
// internal target) and the legal deadline rolls forward to Monday
// 2025-04-07, each at the end of the day (UTC, no holidays configured).
func TestRequestDeadlinesThroughAPI(t *testing.T) {
	t.Parallel()
	f := newDSRFixture(t)
	var r apiRequest
	if resp := f.call(t, "POST", "/requests", dsrW("Idempotency-Key", "letter-2025-03-05"),
		`{"subject_id":"{bob}","kind":"export","received_at":"2025-03-05T10:00:00Z"}`, &r); resp.StatusCode != 201 {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	want := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if !r.ReceivedAt.Equal(want("2025-03-05T10:00:00Z")) || !r.TargetDueAt.Equal(want("2025-04-05T23:59:59.999999Z")) ||
		!r.LegalDueAt.Equal(want("2025-04-07T23:59:59.999999Z")) {
		t.Errorf("received %v, target %v, legal %v; want 2025-03-05T10:00, 2025-04-05 and 2025-04-07 end of day",
			r.ReceivedAt, r.TargetDueAt, r.LegalDueAt)
	}
}

// TestRequestBadInput: every refusal is a problem, and writes no request,
// event, idempotency key or link.
func TestRequestBadInput(t *testing.T) {
	t.Parallel()
	f := newDSRFixture(t)
	var used apiRequest
	if resp := f.call(t, "POST", "/requests", dsrW("Idempotency-Key", "used"), `{"subject_id":"{bob}","kind":"access"}`, &used); resp.StatusCode != 201 {
		t.Fatalf("setup: %d", resp.StatusCode)
	}
	f.vars["req"] = used.ID
	huge := `{"subject_id":"{ada}","kind":"access","details":{"message":"` + strings.Repeat("a", web.MaxBody) + `"}}`
	future := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	post := func(kv ...string) map[string]string { return dsrW(append([]string{"Content-Type", jsonCT}, kv...)...) }
	scenarios := []scenario{
		{name: "no Idempotency-Key", method: "POST", path: "/requests", headers: post(),
			body: `{"subject_id":"{ada}","kind":"access"}`, wantStatus: 400, wantCode: "invalid", wantField: "Idempotency-Key"},
		{name: "key reused with another body", method: "POST", path: "/requests", headers: post("Idempotency-Key", "used"),
			body: `{"subject_id":"{ada}","kind":"access"}`, wantStatus: 422, wantCode: "unprocessable", wantField: "Idempotency-Key"},
		{name: "key not printable ASCII", method: "POST", path: "/requests", headers: post("Idempotency-Key", "a b"),
			body: `{"subject_id":"{ada}","kind":"access"}`, wantStatus: 400, wantCode: "invalid", wantField: "idempotency_key"},
		{name: "unknown kind", method: "POST", path: "/requests", headers: post("Idempotency-Key", "n1"),
			body: `{"subject_id":"{ada}","kind":"gossip"}`, wantStatus: 400, wantCode: "invalid", wantField: "kind"},
		{name: "unknown category", method: "POST", path: "/requests", headers: post("Idempotency-Key", "n2"),
			body: `{"subject_id":"{ada}","kind":"erasure","categories":["horoscope"]}`, wantStatus: 400, wantCode: "invalid", wantField: "details.categories"},
		{name: "categories twice", method: "POST", path: "/requests", headers: post("Idempotency-Key", "n3"),
			body: `{"subject_id":"{ada}","kind":"erasure","categories":["contact"],"details":{"categories":["billing"]}}`, wantStatus: 400, wantCode: "invalid", wantField: "categories"},
		{name: "categories on an access request", method: "POST", path: "/requests", headers: post("Idempotency-Key", "n4"),
			body: `{"subject_id":"{ada}","kind":"access","categories":["contact"]}`, wantStatus: 400, wantCode: "invalid", wantField: "details.categories"},
		{name: "unknown purpose in an objection", method: "POST", path: "/requests", headers: post("Idempotency-Key", "n5"),
			body: `{"subject_id":"{ada}","kind":"objection","details":{"purposes":["astrology"]}}`, wantStatus: 400, wantCode: "invalid", wantField: "details.purposes"},
		{name: "unknown subject", method: "POST", path: "/requests", headers: post("Idempotency-Key", "n6"),
			body: `{"subject_id":"sub_aaaaaaaaaaaaaaaaaaaaaaaaaa","kind":"access"}`, wantStatus: 404, wantCode: "not_found"},
		{name: "malformed subject", method: "POST", path: "/requests", headers: post("Idempotency-Key", "n7"),
			body: `{"subject_id":"../../etc","kind":"access"}`, wantStatus: 404, wantCode: "not_found"},
		{name: "no subject", method: "POST", path: "/requests", headers: post("Idempotency-Key", "n8"),
			body: `{"kind":"access"}`, wantStatus: 400, wantCode: "invalid", wantField: "subject_id"},
		{name: "received in the future", method: "POST", path: "/requests", headers: post("Idempotency-Key", "n9"),
			body: `{"subject_id":"{ada}","kind":"access","received_at":"` + future + `"}`, wantStatus: 400, wantCode: "invalid", wantField: "received_at"},
		{name: "unknown field", method: "POST", path: "/requests", headers: post("Idempotency-Key", "n10"),
			body: `{"subject_id":"{ada}","kind":"access","priority":"high"}`, wantStatus: 400, wantCode: "invalid", wantField: "priority"},
		{name: "oversized body", method: "POST", path: "/requests", headers: post("Idempotency-Key", "n11"),
			body: huge, wantStatus: 413, wantCode: "too_large"},
		{name: "form body", method: "POST", path: "/requests", headers: dsrW("Content-Type", "application/x-www-form-urlencoded", "Idempotency-Key", "n12"),
			body: `subject_id=x&kind=access`, wantStatus: 415, wantCode: "unsupported_type"},
		{name: "submit without dsr:write", method: "POST", path: "/requests", headers: headers("Bearer {dsrread}", "Content-Type", jsonCT, "Idempotency-Key", "n13"),
			body: `{"subject_id":"{ada}","kind":"access"}`, wantStatus: 403, wantCode: "forbidden"},
		{name: "list without dsr:read", method: "GET", path: "/requests", headers: writer(), wantStatus: 403, wantCode: "forbidden"},
		{name: "get unknown request", method: "GET", path: "/requests/req_aaaaaaaaaaaaaaaaaaaaaaaaaa", headers: dsrW(), wantStatus: 404, wantCode: "not_found"},
		{name: "get malformed request id", method: "GET", path: "/requests/x", headers: dsrW(), wantStatus: 404, wantCode: "not_found"},
		{name: "list unknown parameter", method: "GET", path: "/requests?subject=x", headers: dsrW(), wantStatus: 400, wantCode: "invalid", wantField: "subject"},
		{name: "list unknown state", method: "GET", path: "/requests?state=lost", headers: dsrW(), wantStatus: 400, wantCode: "invalid", wantField: "state"},
		{name: "list bad limit", method: "GET", path: "/requests?limit=0", headers: dsrW(), wantStatus: 400, wantCode: "invalid", wantField: "limit"},
		{name: "list forged cursor", method: "GET", path: "/requests?cursor=bm90LWEtY3Vyc29y", headers: dsrW(), wantStatus: 400, wantCode: "invalid", wantField: "cursor"},
		{name: "decide through the API", method: "POST", path: "/requests/{req}/transitions", headers: post(),
			body: `{"to":"completed"}`, wantStatus: 403, wantCode: "forbidden", wantField: "to"},
		{name: "withdraw unknown request", method: "POST", path: "/requests/req_aaaaaaaaaaaaaaaaaaaaaaaaaa/transitions", headers: post(),
			body: `{"to":"withdrawn"}`, wantStatus: 404, wantCode: "not_found"},
		{name: "export link for unknown subject", method: "POST", path: "/subjects/sub_aaaaaaaaaaaaaaaaaaaaaaaaaa/exports", headers: post(),
			body: `{}`, wantStatus: 404, wantCode: "not_found"},
		{name: "export link of unknown kind", method: "POST", path: "/subjects/{ada}/exports", headers: post(),
			body: `{"kind":"everything"}`, wantStatus: 400, wantCode: "invalid", wantField: "kind"},
		{name: "export link to a bad age key", method: "POST", path: "/subjects/{ada}/exports", headers: post(),
			body: `{"recipient":"age1notakey"}`, wantStatus: 400, wantCode: "invalid", wantField: "encryption.recipient"},
		{name: "export link without dsr:write", method: "POST", path: "/subjects/{ada}/exports", headers: headers("Bearer {writer}", "Content-Type", jsonCT),
			body: `{}`, wantStatus: 403, wantCode: "forbidden"},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			before := dsrSnapshot(t, f.dataDir)
			sc.run(t, f)
			if after := dsrSnapshot(t, f.dataDir); after != before {
				t.Errorf("a refused request wrote: %+v → %+v", before, after)
			}
		})
	}
}

// download fetches a link's URL from the test server and returns the
// response and body.
func (f *fixture) download(t *testing.T, link string) (*http.Response, []byte) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, f.hc, "GET", f.base+u.Path, nil, nil)
}

// TestExportDownload stores data through the API, creates a link, and
// opens the downloaded ZIP to check every category and field against what
// the API stored; then the link's single use.
func TestExportDownload(t *testing.T) {
	t.Parallel()
	f := newDSRFixture(t)
	stored := map[string]string{
		"contact": `{"name":"Grace \"G\" Hopper","address":{"street":"1, Navy Way","city":"Arlington"},"phones":["+1 555 0100","-"]}`,
		"profile": `{"nickname":"=cmd|' /C calc'!A0","theme":"dark","beta":true,"score":-3.5}`,
		"billing": `{"invoices":[{"no":"2026-001","total":"@SUM(1,2)"},{"no":"2026-002","total":"12.00"}]}`,
	}
	var subj struct{ ID string }
	body, _ := json.Marshal(map[string]any{"email": "grace@example.org", "data": map[string]json.RawMessage{
		"contact": json.RawMessage(stored["contact"]), "profile": json.RawMessage(stored["profile"]), "billing": json.RawMessage(stored["billing"])}})
	if resp := f.call(t, "POST", "/subjects", dsrW(), string(body), &subj); resp.StatusCode != 201 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	// What the API holds is the reference, not what the test sent.
	var held struct{ Data map[string]json.RawMessage }
	f.call(t, "GET", "/subjects/"+subj.ID, dsrW(), "", &held)

	var link struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if resp := f.call(t, "POST", "/subjects/"+subj.ID+"/exports", dsrW(), `{}`, &link); resp.StatusCode != 201 {
		t.Fatalf("create link: %d", resp.StatusCode)
	}
	if d := time.Until(link.ExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("link expires in %v, want 24 h", d)
	}
	if !strings.Contains(link.URL, export.DownloadPrefix) || strings.Contains(link.URL, subj.ID) {
		t.Errorf("url = %q", link.URL)
	}

	// HEAD does not use the link up.
	u, _ := url.Parse(link.URL)
	if resp, _ := send(t, f.hc, "HEAD", f.base+u.Path, nil, nil); resp.StatusCode != 405 {
		t.Errorf("HEAD = %d, want 405", resp.StatusCode)
	}
	resp, zipBody := f.download(t, link.URL)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("download: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", resp.Header)
	}
	checkZIP(t, zipBody, held.Data)

	resp, b := f.download(t, link.URL)
	wantProblem(t, resp, b, 410, "gone", "", f.dataDir)
	tampered := link.URL[:len(link.URL)-3] + "AAA"
	if tampered == link.URL {
		tampered = link.URL[:len(link.URL)-3] + "BBB"
	}
	resp, b = f.download(t, tampered)
	wantProblem(t, resp, b, 404, "not_found", "", f.dataDir)
	resp, b = send(t, f.hc, "GET", f.base+"/download/", nil, nil)
	wantProblem(t, resp, b, 404, "not_found", "", f.dataDir)

	t.Run("concurrent double fetch", func(t *testing.T) {
		var l struct{ URL string }
		f.call(t, "POST", "/subjects/"+subj.ID+"/exports", dsrW(), `{"kind":"export"}`, &l)
		const n = 6
		codes := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				u, _ := url.Parse(l.URL)
				req, _ := http.NewRequest("GET", f.base+u.Path, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				var buf bytes.Buffer
				buf.ReadFrom(resp.Body)
				codes[i] = resp.StatusCode
			})
		}
		wg.Wait()
		ok, gone := 0, 0
		for _, c := range codes {
			switch c {
			case 200:
				ok++
			case 410:
				gone++
			}
		}
		if ok != 1 || gone != n-1 {
			t.Errorf("status codes %v: want exactly one 200 and %d × 410", codes, n-1)
		}
	})

	db := openRO(t, f.dataDir)
	for _, action := range []string{"export.link.create", "export.link.use"} {
		var n int
		db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM audit_events WHERE action = $1 AND result = 'ok'", action).Scan(&n)
		if n != 2 {
			t.Errorf("%d %s events, want 2", n, action)
		}
	}
	var reads int
	db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM audit_events WHERE action = 'subject.read' AND purpose = 'dsr-access'").Scan(&reads)
	if reads != 2 {
		t.Errorf("%d audited dsr-access reads, want 2", reads)
	}
}

// checkZIP opens a package and compares every category's CSV and the
// data.json copy with the data the API holds.
func checkZIP(t *testing.T, b []byte, held map[string]json.RawMessage) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a ZIP: %v", err)
	}
	files := map[string][]byte{}
	for _, zf := range zr.File {
		rc, _ := zf.Open()
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		rc.Close()
		files[zf.Name] = buf.Bytes()
	}
	for _, want := range []string{"README.txt", "data.json", "account.csv", "purposes.csv", "consultations.csv"} {
		if files[want] == nil {
			t.Errorf("the ZIP lacks %s", want)
		}
	}
	var doc struct{ Data map[string]json.RawMessage }
	if err := json.Unmarshal(files["data.json"], &doc); err != nil {
		t.Fatalf("data.json: %v", err)
	}
	for cat, raw := range held {
		var want, got any
		json.Unmarshal(raw, &want)
		json.Unmarshal(doc.Data[cat], &got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("data.json %s = %s, want %s", cat, doc.Data[cat], raw)
		}
		name := "categories/" + cat + ".csv"
		rows, err := csv.NewReader(bytes.NewReader(files[name])).ReadAll()
		if err != nil || len(rows) < 2 {
			t.Fatalf("%s: %v %v", name, rows, err)
		}
		cells := map[string]string{}
		for _, r := range rows[1:] {
			cells[r[0]] = r[1]
		}
		leaves := map[string]string{}
		flattenAny("", want, leaves)
		if len(cells) != len(leaves) {
			t.Errorf("%s has %d fields, the API holds %d: %v vs %v", name, len(cells), len(leaves), cells, leaves)
		}
		for field, v := range leaves {
			if got := cells[field]; got != export.SafeCell(v) {
				t.Errorf("%s %s = %q, want %q", name, field, got, export.SafeCell(v))
			}
			if c := cells[field]; c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
				t.Errorf("%s %s = %q starts with a formula character", name, field, c)
			}
		}
	}
	if len(doc.Data) != len(held) {
		t.Errorf("data.json holds %d categories, the API %d", len(doc.Data), len(held))
	}
}

func flattenAny(path string, v any, out map[string]string) {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			flattenAny(join(k), e, out)
		}
	case []any:
		for i, e := range x {
			flattenAny(join(fmt.Sprint(i)), e, out)
		}
	case string:
		out[path] = x
	case bool:
		out[path] = fmt.Sprint(x)
	case float64:
		b, _ := json.Marshal(x)
		out[path] = string(b)
	case nil:
		out[path] = ""
	}
}
