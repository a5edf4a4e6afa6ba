package console_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// TestConsentPages: notices are drafted and published, a purpose edited
// (a stale edit refused), the register searched (audited) and exported as
// CSV only with a fresh second factor, and the figures counted.
func TestConsentPages(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
		e := newEnv(t, envOptions{engine: eng})
		ctx := t.Context()
		dpo := e.enrolled(t, "dpo@example.org", auth.RoleDPO)
		sup := e.enrolled(t, "sup@example.org", auth.RoleSupport)
		c := e.client(t)
		c.cookie = e.session(t, dpo.id, false)

		// Notices: a material draft without a summary is refused; a
		// draft is saved, then published.
		versions := func() int { return e.count(t, "SELECT COUNT(*) FROM notice_versions WHERE notice = 'privacy-policy'") }
		before := versions()
		if a := c.post("/console/consent/notices/privacy-policy/draft", url.Values{"body": {"# Privacy\n\nNew text."}, "effective": {"2026-06-01"}, "material": {"1"}}); a.status != http.StatusBadRequest || versions() != before {
			t.Fatalf("material draft without summary: %d", a.status)
		}
		if a := c.post("/console/consent/notices/privacy-policy/draft", url.Values{"body": {"# Privacy\n\nNew text."}, "effective": {"2026-06-01"}, "summary": {"Clearer wording"}}); a.status != http.StatusSeeOther {
			t.Fatalf("draft: %d %s", a.status, a.body)
		}
		vs, err := e.consent.NoticeVersions(ctx, "privacy-policy")
		if err != nil || len(vs) != before+1 || vs[len(vs)-1].PublishedAt != nil {
			t.Fatalf("versions after the draft: %d %v", len(vs), err)
		}
		draft := vs[len(vs)-1].Version
		if p := c.get("/console/consent/notices/privacy-policy"); !strings.Contains(p.body, `id="publish-`+strconv.Itoa(draft)+`"`) {
			t.Fatal("no publish button for the draft")
		}
		if a := c.post("/console/consent/notices/privacy-policy/"+strconv.Itoa(draft)+"/publish", nil); a.status != http.StatusSeeOther {
			t.Fatalf("publish: %d", a.status)
		}
		cur, err := e.consent.CurrentNotice(ctx, "privacy-policy")
		if err != nil || cur.Version != draft {
			t.Fatalf("current after publishing: %d %v", cur.Version, err)
		}
		if a := c.post("/console/consent/notices/privacy-policy/"+strconv.Itoa(draft)+"/publish", nil); a.status != http.StatusConflict {
			t.Errorf("publishing twice: %d", a.status)
		}

		// A consent purpose and some records.
		act := consent.Actor{Name: "staff:setup", Purpose: "consent-management"}
		np, err := e.consent.CreatePurpose(ctx, act, consent.Purpose{Slug: "newsletter", Basis: consent.Consent,
			Names: map[string]string{"en": "Newsletter", "de": "Newsletter"}, Descriptions: map[string]string{"en": "News by e-mail.", "de": "Neuigkeiten per E-Mail."},
			Categories: []string{"contact"}, Retention: "P2Y", DirectMarketing: true})
		if err != nil {
			t.Fatal(err)
		}
		s1, s2 := e.subject(t), e.subject(t)
		for _, req := range []consent.Request{
			{SubjectID: s1, Kind: consent.Grant, Purpose: "newsletter", NoticeVersion: cur.Version, Channel: consent.Portal, Action: consent.Checkbox},
			{SubjectID: s2, Kind: consent.Grant, Purpose: "newsletter", NoticeVersion: cur.Version, Channel: consent.Portal, Action: consent.Checkbox},
			{SubjectID: s2, Kind: consent.Withdraw, Purpose: "newsletter", Channel: consent.Portal, Action: consent.Toggle},
		} {
			if _, err := e.consent.Record(ctx, consent.Actor{Name: "subject:" + req.SubjectID, Purpose: "consent-management"}, req); err != nil {
				t.Fatal(err)
			}
		}

		// Purpose edit: stale, then fresh.
		form := url.Values{"name_en": {"Our newsletter"}, "name_de": {"Unser Newsletter"}, "desc_en": {"News by e-mail."},
			"desc_de": {"Neuigkeiten per E-Mail."}, "retention": {"P1Y"}, "updated_at": {strconv.FormatInt(np.UpdatedAt.Add(-time.Second).UnixMicro(), 10)}}
		if a := c.post("/console/consent/purposes/newsletter", form); a.status != http.StatusConflict {
			t.Fatalf("stale edit: %d", a.status)
		}
		if p, _ := e.consent.Purpose(ctx, "newsletter"); p.Names["en"] != "Newsletter" {
			t.Fatal("a stale edit changed the purpose")
		}
		form.Set("updated_at", strconv.FormatInt(np.UpdatedAt.UnixMicro(), 10))
		if a := c.post("/console/consent/purposes/newsletter", form); a.status != http.StatusSeeOther {
			t.Fatalf("edit: %d %s", a.status, a.body)
		}
		if p, _ := e.consent.Purpose(ctx, "newsletter"); p.Names["en"] != "Our newsletter" || p.Retention != "P1Y" {
			t.Fatalf("edited purpose %+v", p)
		}
		if a := c.get("/console/consent/purposes"); !strings.Contains(a.body, "Our newsletter") {
			t.Error("purposes list")
		}

		// Search by subject, audited.
		a := c.post("/console/consent/register", url.Values{"subject": {s1}})
		if a.status != http.StatusOK || !strings.Contains(a.body, s1) || strings.Contains(a.body, s2) {
			t.Fatalf("search by subject: %d", a.status)
		}
		if e.auditCount(t, "consent.register.search", "ok") != 1 {
			t.Error("search not audited")
		}
		if a := c.post("/console/consent/register", url.Values{"from": {"yesterday"}}); a.status != http.StatusBadRequest {
			t.Errorf("bad date: %d", a.status)
		}

		// Export: support may not; the DPO needs a fresh second factor.
		sc := e.client(t)
		sc.cookie = e.session(t, sup.id, true)
		if a := sc.post("/console/consent/register.csv", url.Values{}); a.status != http.StatusForbidden {
			t.Fatalf("support export: %d", a.status)
		}
		a = c.post("/console/consent/register.csv", url.Values{"purpose": {"newsletter"}})
		if strings.HasPrefix(a.header.Get("Content-Type"), "text/csv") || !strings.Contains(a.body, `action="/console/stepup"`) ||
			!strings.Contains(a.body, `value="/console/consent/register"`) {
			t.Fatalf("export without a fresh factor: %d %s", a.status, a.header.Get("Content-Type"))
		}
		if e.auditCount(t, "consent.register.export", "ok") != 0 {
			t.Fatal("an export without a fresh factor was audited as done")
		}
		c.cookie = e.session(t, dpo.id, true)
		a = c.post("/console/consent/register.csv", url.Values{"purpose": {"newsletter"}})
		if a.status != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "text/csv") {
			t.Fatalf("export: %d %s", a.status, a.header.Get("Content-Type"))
		}
		rows, err := csv.NewReader(strings.NewReader(a.body)).ReadAll()
		if err != nil || len(rows) != 4 || rows[0][2] != "subject_id" || rows[3][3] != "withdraw" || rows[1][2] != s1 {
			t.Fatalf("csv %v %v", rows, err)
		}
		if e.auditCount(t, "consent.register.export", "ok") != 1 {
			t.Error("export not audited")
		}

		// Figures: this month, two grants and one withdrawal.
		month := e.clock.Now().UTC().Format("2006-01")
		f := c.get("/console/consent/figures")
		if !strings.Contains(f.body, "<td>"+month+"</td><td><code>newsletter</code></td><td>2</td><td>1</td><td>0</td>") {
			t.Errorf("figures: %s", f.body)
		}
	})
}
