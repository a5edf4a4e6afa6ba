package portal_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// TestMyData: the home page shows every field of every category held,
// the account identifiers and the Art. 15 information, and the read is
// audited as the person's own under dsr-access.
func TestMyData(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newEnv(t, e, 1000)
		en.person(t, "u-1", "ada@example.org", map[string]string{
			"contact": `{"name":"Ada Lovelace","address":{"city":"London"}}`,
			"usage":   `{"jobs":[3,4],"notes":"<script>alert(1)</script>"}`,
		})
		c := en.handoffIn(t, "u-1")
		a := c.get("/privacy/")
		if a.status != http.StatusOK {
			t.Fatalf("home: %d", a.status)
		}
		for _, want := range []string{"ada@example.org", "u-1", "Ada Lovelace", "address.city", "London", "jobs.0", "jobs.1",
			"&lt;script&gt;alert(1)&lt;/script&gt;", "Example GmbH", "The Berlin DPA", "The newsletter", "Art. 6(1)(a)",
			"Art. 21", "Art. 77", "No decisions based solely on automated processing", "Request my data"} {
			if !strings.Contains(a.body, want) {
				t.Errorf("home lacks %q", want)
			}
		}
		if strings.Contains(a.body, "<script>alert") {
			t.Fatal("a stored script is rendered unescaped")
		}
		var n int
		err := en.db.Read().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM audit_events WHERE action = 'subject.read' AND purpose = 'dsr-access' AND actor LIKE 'subject:%' AND result = 'ok'").Scan(&n)
		if err != nil || n != 1 {
			t.Fatalf("%d audited reads (%v)", n, err)
		}
		if got := en.results(t, "export.build"); len(got) != 0 {
			t.Fatalf("viewing My data audited an export: %v", got)
		}
	})
}

// TestExportDownload: "Request my data" streams a ZIP at once, with a CSV
// per category, data.json and the README; with a passphrase it is an age
// file; a too-short passphrase gets the home page with an error and no
// file.
func TestExportDownload(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newEnv(t, e, 1000)
		en.person(t, "u-1", "ada@example.org", map[string]string{"contact": `{"name":"Ada Lovelace"}`, "usage": `{"jobs":7}`})
		en.person(t, "u-2", "bob@example.org", map[string]string{"contact": `{"name":"Bob Other"}`})
		c := en.handoffIn(t, "u-1")
		a := c.post("/privacy/export", url.Values{})
		if a.status != http.StatusOK || a.header.Get("Content-Type") != "application/zip" ||
			!strings.HasPrefix(a.header.Get("Content-Disposition"), `attachment; filename="personal-data-`) {
			t.Fatalf("export: %d %q %q", a.status, a.header.Get("Content-Type"), a.header.Get("Content-Disposition"))
		}
		z, err := zip.NewReader(bytes.NewReader([]byte(a.body)), int64(len(a.body)))
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]string{}
		for _, f := range z.File {
			r, _ := f.Open()
			b, _ := io.ReadAll(r)
			files[f.Name] = string(b)
		}
		for _, name := range []string{"README.txt", "data.json", "account.csv", "categories/contact.csv", "categories/usage.csv"} {
			if _, ok := files[name]; !ok {
				t.Errorf("no %s in the package (%d files)", name, len(files))
			}
		}
		if !strings.Contains(files["categories/contact.csv"], "Ada Lovelace") || strings.Contains(a.body, "Bob Other") {
			t.Fatal("the package is not the signed-in person's")
		}
		var doc struct {
			Subject struct {
				ExternalID string `json:"external_id"`
			}
		}
		if err := json.Unmarshal([]byte(files["data.json"]), &doc); err != nil || doc.Subject.ExternalID != "u-1" {
			t.Fatalf("data.json subject %+v (%v)", doc.Subject, err)
		}

		enc := c.post("/privacy/export", url.Values{"passphrase": {"a long passphrase 1"}})
		if enc.status != http.StatusOK || !strings.HasPrefix(enc.body, "age-encryption.org/v1") || !strings.HasSuffix(enc.header.Get("Content-Disposition"), `.zip.age"`) {
			t.Fatalf("encrypted export: %d %q %.30q", enc.status, enc.header.Get("Content-Disposition"), enc.body)
		}
		short := c.post("/privacy/export", url.Values{"passphrase": {"short"}})
		if short.status != http.StatusBadRequest || !strings.Contains(short.body, "The passphrase is too short") {
			t.Fatalf("short passphrase: %d", short.status)
		}
	})
}

var (
	grantForm = regexp.MustCompile(`action="/privacy/choices/newsletter">\s*<input type="hidden" name="notice_version" value="(\d+)">\s*<input type="hidden" name="notice_sha256" value="([0-9a-f]+)">\s*<button type="submit" name="action" value="(\w+)"`)
	stateOf   = func(body, slug string) string {
		return regexp.MustCompile(`(?s)id="purpose-` + slug + `".*?data-state="([a-z-]+)"`).FindStringSubmatch(body)[1]
	}
	receiptRef = regexp.MustCompile(`href="/privacy/receipts/(cr_[a-z0-9]+)"`)
)

// TestChoices: optional purposes start not granted; one button grants and
// one withdraws, each recorded with channel portal, the button as action
// and IP + user agent as proof; an objection to direct marketing takes
// effect at once; the necessary purpose has no control and says stopping
// it means closing the account; the history and a signed receipt are
// there.
func TestChoices(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newEnv(t, e, 1000)
		id := en.person(t, "u-1", "ada@example.org", map[string]string{"contact": `{"name":"Ada"}`})
		c := en.handoffIn(t, "u-1")
		c.header.Set("User-Agent", "PortalTest/1.0")
		a := c.get("/privacy/choices")
		if a.status != http.StatusOK {
			t.Fatalf("choices: %d", a.status)
		}
		for slug, want := range map[string]string{"newsletter": "not-granted", "analytics": "not-granted", "partner-offers": "active", "service": "necessary"} {
			if got := stateOf(a.body, slug); got != want {
				t.Errorf("%s starts %q, want %q", slug, got, want)
			}
		}
		if !strings.Contains(a.body, "stopping it means closing your account") {
			t.Error("the necessary purpose is not explained")
		}
		m := grantForm.FindStringSubmatch(a.body)
		if m == nil || m[3] != "grant" {
			t.Fatalf("no grant button for the newsletter:\n%s", a.body)
		}
		a = c.post("/privacy/choices/newsletter", url.Values{"action": {"grant"}, "notice_version": {m[1]}, "notice_sha256": {m[2]}})
		if a.status != http.StatusSeeOther {
			t.Fatalf("grant: %d\n%s", a.status, a.body)
		}
		d, err := en.consent.Check(t.Context(), id, "newsletter")
		if err != nil || !d.Allowed {
			t.Fatalf("after grant: %+v %v", d, err)
		}
		h, _ := en.consent.History(t.Context(), id)
		last := h[len(h)-1]
		if last.Kind != consent.Grant || last.Channel != consent.Portal || last.Action != consent.Button || last.RecordedBy != "subject" {
			t.Fatalf("grant record %+v", last)
		}
		proof, err := en.consent.OpenProof(t.Context(), last)
		if err != nil || proof.IP != "127.0.0.1" || proof.UserAgent != "PortalTest/1.0" {
			t.Fatalf("proof %+v %v", proof, err)
		}
		a = c.get("/privacy/choices?done=grant")
		if stateOf(a.body, "newsletter") != "granted" || !strings.Contains(a.body, "your consent is recorded") {
			t.Fatal("the page does not show the grant")
		}
		// Withdraw with one action on the same page.
		if a = c.post("/privacy/choices/newsletter", url.Values{"action": {"withdraw"}}); a.status != http.StatusSeeOther {
			t.Fatalf("withdraw: %d", a.status)
		}
		if d, _ := en.consent.Check(t.Context(), id, "newsletter"); d.Allowed {
			t.Fatal("still allowed after withdrawal")
		}
		// Object to direct marketing: at once.
		if a = c.post("/privacy/choices/partner-offers", url.Values{"action": {"object"}}); a.status != http.StatusSeeOther {
			t.Fatalf("object: %d", a.status)
		}
		if d, _ := en.consent.Check(t.Context(), id, "partner-offers"); d.Allowed || d.Reason != consent.ReasonObjected {
			t.Fatalf("after objection: %+v", d)
		}
		a = c.get("/privacy/choices")
		if stateOf(a.body, "partner-offers") != "objected" || !strings.Contains(a.body, "took effect at once") {
			t.Fatal("the objection is not shown")
		}
		for _, want := range []string{"Consent given", "Consent withdrawn", "Objection"} {
			if !strings.Contains(a.body, want) {
				t.Errorf("history lacks %q", want)
			}
		}
		// The necessary purpose cannot be withdrawn or objected to.
		if a := c.post("/privacy/choices/service", url.Values{"action": {"withdraw"}}); a.status != http.StatusBadRequest {
			t.Fatalf("withdrawing a necessary purpose: %d", a.status)
		}
		// A receipt of one's own record downloads, signed.
		ref := receiptRef.FindStringSubmatch(a.body)
		if ref == nil {
			t.Fatal("no receipt link")
		}
		r := c.get("/privacy/receipts/" + ref[1])
		var rc struct {
			Receipt string `json:"receipt"`
		}
		if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &rc) != nil || strings.Count(rc.Receipt, ".") != 2 {
			t.Fatalf("receipt: %d %.80q", r.status, r.body)
		}
	})
}

// TestReacceptance: after a material change the next portal page shows
// the notice with its summary and a diff link; accepting without the tick
// records nothing; with it an accept-notice record is made and the notice
// is no longer asked for.
func TestReacceptance(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newEnv(t, e, 1000)
		id := en.person(t, "u-1", "ada@example.org", map[string]string{"contact": `{"name":"Ada"}`})
		v1, _ := en.consent.CurrentNotice(t.Context(), "privacy-policy")
		if _, err := en.consent.Record(t.Context(), consent.Actor{Name: "subject:" + id, Purpose: "consent"}, consent.Request{
			SubjectID: id, Kind: consent.AcceptNotice, Notice: "privacy-policy", NoticeVersion: v1.Version,
			Channel: consent.Portal, Action: consent.Checkbox}); err != nil {
			t.Fatal(err)
		}
		c := en.handoffIn(t, "u-1")
		if a := c.get("/privacy/"); strings.Contains(a.body, `id="reaccept"`) {
			t.Fatal("re-acceptance asked without a change")
		}
		v2 := en.publish(t, "privacy-policy", "# Privacy\n\nVersion two, with partners.", true)
		a := c.get("/privacy/")
		diff := "/policies/privacy-policy/diff/" + itoa(v1.Version) + ".." + itoa(v2.Version)
		if !strings.Contains(a.body, `id="reaccept"`) || !strings.Contains(a.body, diff) || !strings.Contains(a.body, "We now say more about privacy-policy.") ||
			!strings.Contains(a.body, "I have read and accept") {
			t.Fatalf("home after a material change lacks the notice:\n%s", a.body)
		}
		records := func() int { return en.count(t, "SELECT COUNT(*) FROM consent_records WHERE kind = 'accept-notice'") }
		before := records()
		form := url.Values{"version": {itoa(v2.Version)}, "sha256": {v2.SHA256}}
		if a := c.post("/privacy/notices/privacy-policy", form); a.status != http.StatusBadRequest || records() != before {
			t.Fatalf("accept without the tick: %d, %d records", a.status, records()-before)
		}
		form.Set("accept", "yes")
		if a := c.post("/privacy/notices/privacy-policy", form); a.status != http.StatusSeeOther || records() != before+1 {
			t.Fatalf("accept: %d\n%s", a.status, a.body)
		}
		if a := c.get("/privacy/choices"); strings.Contains(a.body, `id="reaccept"`) {
			t.Fatal("still asked after accepting")
		}
		if p, _ := en.consent.NeedsReacceptance(t.Context(), id); len(p) != 0 {
			t.Fatalf("register still needs %v", p)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
