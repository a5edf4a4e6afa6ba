package portal_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

var system = vault.Actor{Name: "system", Purpose: "service-delivery"}

// adaData is a person with editable contact fields (by the default
// setting) and billing data that only staff correct.
var adaData = map[string]string{
	"contact": `{"name":"Ada Lovelace","city":"London"}`,
	"billing": `{"vat_id":"GB123","invoices":[{"number":"PF-1"}]}`,
}

// TestCorrectEditable: an editable field is written through the vault at
// once; the old value is only in the sealed audit details, and no request
// is opened.
func TestCorrectEditable(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newEnv(t, e, 1000)
		id := en.person(t, "u-1", "ada@example.org", adaData)
		c := en.handoffIn(t, "u-1")
		page := c.get("/privacy/correct")
		if page.status != http.StatusOK || !strings.Contains(page.body, `name="set.contact.name"`) ||
			!strings.Contains(page.body, `name="ask.billing.vat_id"`) || strings.Contains(page.body, `name="set.billing.vat_id"`) {
			t.Fatalf("correct page: %d\n%s", page.status, page.body)
		}
		if !strings.Contains(page.body, `name="set.contact.postal_code"`) {
			t.Error("an editable field the person does not have yet is not offered")
		}
		a := c.post("/privacy/correct", url.Values{"set.contact.name": {"Augusta Ada King"}, "set.contact.city": {"London"},
			"set.contact.postal_code": {"W1 1AA"}, "ask.billing.vat_id": {""}})
		if a.status != http.StatusOK || !strings.Contains(a.body, `id="changed"`) || strings.Contains(a.body, `id="request"`) {
			t.Fatalf("correct: %d\n%s", a.status, a.body)
		}
		s, err := en.vault.Get(t.Context(), system, id)
		if err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(s.Data["contact"], json.RawMessage(`{"name":"Augusta Ada King","city":"London","postal_code":"W1 1AA"}`)) {
			t.Fatalf("contact after the correction: %s", s.Data["contact"])
		}
		if n := en.count(t, "SELECT COUNT(*) FROM requests"); n != 0 {
			t.Fatalf("an editable correction opened %d requests", n)
		}
		evs, err := audit.ListByTarget(t.Context(), en.db.Read(), en.kr.AuditTarget("subject", id), 0)
		if err != nil {
			t.Fatal(err)
		}
		var rectify *audit.Event
		for i := range evs {
			if evs[i].Action == "subject.rectify" {
				rectify = &evs[i]
			}
		}
		if rectify == nil || rectify.Actor != "subject:"+id || rectify.Purpose != "dsr" {
			t.Fatalf("no subject.rectify event by the person: %+v", rectify)
		}
		details, err := en.vault.OpenAuditDetails(t.Context(), *rectify)
		if err != nil || !strings.Contains(string(details), "Ada Lovelace") {
			t.Fatalf("the sealed audit details do not hold the old value: %s %v", details, err)
		}
		if where := en.plaintext(t, e, "Ada Lovelace"); len(where) > 0 {
			t.Fatalf("the old value is stored in plaintext in %v", where)
		}
	})
}

// TestCorrectAsksStaff: a change of a field the person may not edit opens
// exactly one rectification request, the wanted values sealed in it, and
// writes nothing to the vault.
func TestCorrectAsksStaff(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newEnv(t, e, 1000)
		id := en.person(t, "u-1", "ada@example.org", adaData)
		c := en.handoffIn(t, "u-1")
		a := c.post("/privacy/correct", url.Values{"ask.billing.vat_id": {"DE999888777"}, "ask.billing.invoices.0.number": {"PF-2"},
			"set.contact.name": {"Ada Lovelace"}})
		if a.status != http.StatusOK || !strings.Contains(a.body, `id="request"`) || strings.Contains(a.body, `id="changed"`) {
			t.Fatalf("ask: %d\n%s", a.status, a.body)
		}
		if n := en.count(t, "SELECT COUNT(*) FROM requests WHERE subject_id = $1 AND kind = 'rectification'", id); n != 1 {
			t.Fatalf("%d rectification requests, want 1", n)
		}
		if n := en.count(t, "SELECT COUNT(*) FROM audit_events WHERE action = 'subject.rectify'"); n != 0 {
			t.Fatal("a request for staff wrote to the vault")
		}
		s, err := en.vault.Get(t.Context(), system, id)
		if err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(s.Data["billing"], json.RawMessage(adaData["billing"])) {
			t.Fatalf("billing changed: %s", s.Data["billing"])
		}
		var reqID string
		if err := en.db.Read().QueryRowContext(t.Context(), "SELECT id FROM requests").Scan(&reqID); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(a.body, reqID) {
			t.Fatalf("the page does not name request %s", reqID)
		}
		d, err := en.dsr.OpenDetails(t.Context(), dsr.Actor{Name: "staff:dpo", Purpose: "dsr"}, reqID)
		if err != nil || d.Fields["billing.vat_id"] != "DE999888777" || d.Fields["billing.invoices.0.number"] != "PF-2" || len(d.Fields) != 2 {
			t.Fatalf("request details: %+v %v", d, err)
		}
		if where := en.plaintext(t, e, "DE999888777"); len(where) > 0 {
			t.Fatalf("the requested value is stored in plaintext in %v", where)
		}
		// Asking again adds to the open request: still one.
		if a := c.post("/privacy/correct", url.Values{"ask.billing.vat_id": {"DE111"}}); a.status != http.StatusOK {
			t.Fatalf("second ask: %d", a.status)
		}
		if n := en.count(t, "SELECT COUNT(*) FROM requests"); n != 1 {
			t.Fatalf("%d requests after asking twice", n)
		}
	})
}

// TestCorrectRefused: bad forms change nothing and are audited.
func TestCorrectRefused(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newEnv(t, e, 1000)
		id := en.person(t, "u-1", "ada@example.org", adaData)
		bob := en.person(t, "u-2", "bob@example.org", map[string]string{"contact": `{"name":"Bob Other"}`})
		c := en.handoffIn(t, "u-1")
		for _, tc := range []struct {
			name   string
			form   url.Values
			status int
		}{
			{"too long", url.Values{"set.contact.name": {strings.Repeat("x", 513)}}, http.StatusBadRequest},
			{"control characters", url.Values{"set.contact.name": {"Ada\x00"}}, http.StatusBadRequest},
			{"not editable", url.Values{"set.billing.vat_id": {"X"}}, http.StatusBadRequest},
			{"new field not editable", url.Values{"ask.billing.iban": {"X"}}, http.StatusBadRequest},
			{"new category", url.Values{"set.security.name": {"X"}}, http.StatusBadRequest},
			{"unknown input", url.Values{"set.contact.name": {"Eve"}, "subject_id": {bob}}, http.StatusBadRequest},
			{"twice", url.Values{"set.contact.name": {"Eve", "Mallory"}}, http.StatusBadRequest},
			{"oversized", url.Values{"set.contact.name": {"Eve"}, "ask.billing.vat_id": {strings.Repeat("x", 17<<10)}}, http.StatusRequestEntityTooLarge},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if a := c.post("/privacy/correct", tc.form); a.status != tc.status {
					t.Fatalf("%d, want %d\n%s", a.status, tc.status, a.body)
				}
			})
		}
		if n := en.count(t, "SELECT COUNT(*) FROM audit_events WHERE action = 'subject.rectify'"); n != 0 {
			t.Fatal("a refused form wrote to the vault")
		}
		if n := en.count(t, "SELECT COUNT(*) FROM requests"); n != 0 {
			t.Fatal("a refused form opened a request")
		}
		if got := en.results(t, "portal.rectify"); len(got) != 7 {
			t.Fatalf("refusals audited: %v, want 7", got)
		}
		// Cross-site (CSRF) posts are refused before the handler.
		x := en.handoffIn(t, "u-1")
		x.header.Set("Sec-Fetch-Site", "cross-site")
		x.header.Set("Origin", "https://evil.example")
		if a := x.post("/privacy/correct", url.Values{"set.contact.name": {"Eve"}}); a.status != http.StatusForbidden {
			t.Fatalf("cross-site post: %d", a.status)
		}
		// Without a session nothing is reachable.
		if a := en.client(t).post("/privacy/correct", url.Values{"set.contact.name": {"Eve"}}); a.status != http.StatusUnauthorized {
			t.Fatalf("signed out: %d", a.status)
		}
		// The page shows only the session's person, whatever the URL says.
		if a := c.get("/privacy/correct?subject_id=" + bob); strings.Contains(a.body, "Bob Other") {
			t.Fatal("another person's data on the correct page")
		}
		for _, who := range []string{id, bob} {
			s, err := en.vault.Get(t.Context(), system, who)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(s.Data["contact"]), "Eve") {
				t.Fatalf("%s was changed", who)
			}
		}
	})
}

// TestCorrectEscapes: script in a value is stored as typed and shown
// escaped.
func TestCorrectEscapes(t *testing.T) {
	en := newEnv(t, sqlstore.SQLite, 1000)
	id := en.person(t, "u-1", "ada@example.org", adaData)
	c := en.handoffIn(t, "u-1")
	const evil = `"><script>alert(1)</script>`
	a := c.post("/privacy/correct", url.Values{"set.contact.name": {evil}})
	if a.status != http.StatusOK || strings.Contains(a.body, "<script>alert") || !strings.Contains(a.body, "&lt;script&gt;") {
		t.Fatalf("correct with script: %d\n%s", a.status, a.body)
	}
	s, err := en.vault.Get(t.Context(), system, id)
	if err != nil {
		t.Fatal(err)
	}
	var contact struct{ Name string }
	if json.Unmarshal(s.Data["contact"], &contact); contact.Name != evil {
		t.Fatalf("stored name %q", contact.Name)
	}
	if a := c.get("/privacy/"); strings.Contains(a.body, "<script>alert") {
		t.Fatal("My data renders the name unescaped")
	}
}

// plaintext lists the tables of the main database in which canary is
// stored in the clear.
func (en *env) plaintext(t *testing.T, e sqlstore.Engine, canary string) []string {
	t.Helper()
	list := "SELECT name FROM sqlite_master WHERE type = 'table'"
	if e == sqlstore.Postgres {
		list = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
	}
	rows, err := en.db.Read().QueryContext(t.Context(), list)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var found []string
	for _, table := range tables {
		rows, err := en.db.Read().QueryContext(t.Context(), fmt.Sprintf("SELECT * FROM %q", table))
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				var b []byte
				switch v := v.(type) {
				case []byte:
					b = v
				case string:
					b = []byte(v)
				}
				if bytes.Contains(b, []byte(canary)) {
					found = append(found, table)
				}
			}
		}
		rows.Close()
	}
	return found
}
