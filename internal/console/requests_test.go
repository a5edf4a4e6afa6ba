package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// staffEntry enters a request by letter as staff, received at received.
func (e *env) staffEntry(t *testing.T, subjectID string, kind dsr.Kind, received time.Time) dsr.Request {
	t.Helper()
	s, err := e.dsr.Submit(t.Context(), dsr.Actor{Name: "staff:setup", Purpose: "dsr"},
		dsr.NewRequest{SubjectID: subjectID, Kind: kind, Channel: dsr.StaffLetter, ReceivedAt: received})
	if err != nil {
		t.Fatal(err)
	}
	return s.Request
}

// TestRequestQueue: soonest target first, the overdue and the due-this-week
// marked in words, filters by kind and state, and the dashboard counts.
func TestRequestQueue(t *testing.T) {
	e := newEnv(t, envOptions{engine: sqlstore.SQLite})
	m := e.enrolled(t, "auditor@example.org", auth.RoleAuditor)
	now := e.clock.Now()
	overdue := e.staffEntry(t, e.subject(t), dsr.Access, now.AddDate(0, -1, -5))
	soon := e.staffEntry(t, e.subject(t), dsr.Export, now.AddDate(0, -1, 3))
	later := e.staffEntry(t, e.subject(t), dsr.Access, now.AddDate(0, 0, -1))
	closed := e.staffEntry(t, e.subject(t), dsr.Restriction, now.AddDate(0, 0, -2))
	if _, err := e.dsr.Transition(t.Context(), dsr.Actor{Name: "staff:setup", Purpose: "dsr"}, closed.ID, dsr.Withdrawn,
		dsr.Reason{Code: dsr.WithdrawnBySubject}); err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	c.cookie = e.session(t, m.id, false)

	a := c.get("/console/requests")
	if a.status != http.StatusOK {
		t.Fatalf("queue: %d", a.status)
	}
	iOver, iSoon, iLater := strings.Index(a.body, overdue.ID), strings.Index(a.body, soon.ID), strings.Index(a.body, later.ID)
	if iOver < 0 || iSoon < iOver || iLater < iSoon {
		t.Fatalf("queue order: overdue %d, soon %d, later %d", iOver, iSoon, iLater)
	}
	if strings.Contains(a.body, closed.ID) {
		t.Error("a withdrawn request is in the open queue")
	}
	row := func(body, id string) string {
		i := strings.Index(body, id)
		start := strings.LastIndex(body[:i], "<tr")
		end := strings.Index(body[i:], "</tr>")
		return body[start : i+end]
	}
	for id, want := range map[string]string{overdue.ID: "Legal deadline passed", soon.ID: "Due this week"} {
		if r := row(a.body, id); !strings.Contains(r, want) {
			t.Errorf("row of %s does not say %q: %s", id, want, r)
		}
	}
	if r := row(a.body, later.ID); strings.Contains(r, "urgency") {
		t.Errorf("a request due next month is marked: %s", r)
	}
	if !strings.Contains(a.body, "3 open, 1 due this week, 1 overdue.") {
		t.Errorf("queue counts missing")
	}
	// Filters.
	if a := c.get("/console/requests?kind=export"); !strings.Contains(a.body, soon.ID) || strings.Contains(a.body, overdue.ID) {
		t.Error("kind filter")
	}
	if a := c.get("/console/requests?state=withdrawn"); !strings.Contains(a.body, closed.ID) || strings.Contains(a.body, soon.ID) {
		t.Error("state filter")
	}
	for _, bad := range []string{"?kind=gossip", "?state=lost", "?after=xyz"} {
		if a := c.get("/console/requests" + bad); a.status != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, a.status)
		}
	}
	// The auditor reads but is offered no way to enter a request.
	if strings.Contains(a.body, `href="/console/requests/new"`) {
		t.Error("the auditor is offered the intake form")
	}
	// Dashboard counts.
	d := c.get("/console/")
	for id, n := range map[string]string{"count-open": "3", "count-duesoon": "1", "count-overdue": "1", "count-legal": "1"} {
		if !strings.Contains(d.body, `id="`+id+`">`+n+`<`) {
			t.Errorf("dashboard %s is not %s", id, n)
		}
	}
}

// auditCount counts audit events of action with result.
func (e *env) auditCount(t *testing.T, action, result string) int {
	t.Helper()
	return e.count(t, "SELECT COUNT(*) FROM audit_events WHERE action = $1 AND result = $2", action, result)
}

// TestRequestActionsBadInput: every refused action answers clearly,
// changes nothing and is audited; the good ones go through.
func TestRequestActionsBadInput(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
		e := newEnv(t, envOptions{engine: eng})
		support := e.enrolled(t, "support@example.org", auth.RoleSupport)
		c := e.client(t)
		c.cookie = e.session(t, support.id, false)
		r := e.submit(t, e.subject(t, "contact"), dsr.Access, dsr.Details{})
		path := "/console/requests/" + r.ID
		version := func() int { return e.count(t, "SELECT version FROM requests WHERE id = $1", r.ID) }

		// A refusal without its justification.
		v := version()
		a := c.post(path+"/transition", url.Values{"to": {"refused"}, "code": {"manifestly-unfounded"}, "text": {""}})
		if a.status != http.StatusBadRequest || !strings.Contains(a.body, "needs its justification") {
			t.Fatalf("refusal without reason: %d", a.status)
		}
		if version() != v || e.auditCount(t, "dsr.request.refused", "invalid") != 1 {
			t.Fatalf("refusal without reason changed %d→%d or was not audited", v, version())
		}
		// Nor without a code.
		if a := c.post(path+"/transition", url.Values{"to": {"refused"}, "text": {"because"}}); a.status != http.StatusBadRequest || version() != v {
			t.Fatalf("refusal without code: %d", a.status)
		}

		// One extension, then a second is refused.
		legal := e.count(t, "SELECT legal_due_at FROM requests WHERE id = $1", r.ID)
		if a := c.post(path+"/extend", url.Values{"code": {"complexity"}, "text": {"many systems"}}); a.status != http.StatusSeeOther {
			t.Fatalf("extension: %d %s", a.status, a.body)
		}
		extended := e.count(t, "SELECT legal_due_at FROM requests WHERE id = $1", r.ID)
		if extended <= legal {
			t.Fatal("the extension did not move the legal deadline")
		}
		v = version()
		a = c.post(path+"/extend", url.Values{"code": {"complexity"}})
		if a.status != http.StatusConflict || !strings.Contains(a.body, "already extended") {
			t.Fatalf("second extension: %d", a.status)
		}
		if version() != v || e.count(t, "SELECT legal_due_at FROM requests WHERE id = $1", r.ID) != extended ||
			e.auditCount(t, "dsr.request.extend", "conflict") != 1 {
			t.Fatal("second extension changed something or was not audited")
		}
		// The page says so, and no longer offers an extension.
		if p := c.get(path); !strings.Contains(p.body, `id="extend-unavailable"`) || !strings.Contains(p.body, "many systems") {
			t.Error("request page after the extension")
		}

		// An extension after the legal deadline.
		late := e.submit(t, e.subject(t), dsr.Export, dsr.Details{})
		e.clock.Add(40 * 24 * time.Hour)
		c.cookie = e.session(t, support.id, false) // the first has expired
		lv := e.count(t, "SELECT version FROM requests WHERE id = $1", late.ID)
		a = c.post("/console/requests/"+late.ID+"/extend", url.Values{"code": {"number-of-requests"}})
		if a.status != http.StatusConflict || !strings.Contains(a.body, "legal deadline has passed") {
			t.Fatalf("late extension: %d", a.status)
		}
		if e.count(t, "SELECT version FROM requests WHERE id = $1", late.ID) != lv || e.count(t, "SELECT extended FROM requests WHERE id = $1", late.ID) != 0 ||
			e.auditCount(t, "dsr.request.extend", "conflict") != 2 {
			t.Fatal("late extension changed something or was not audited")
		}

		// Cross-site form posts are refused before any handler.
		v = version()
		cross := e.client(t)
		cross.cookie = c.cookie
		cross.header = http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}
		if a := cross.post(path+"/transition", url.Values{"to": {"in_progress"}}); a.status != http.StatusForbidden {
			t.Fatalf("cross-site post: %d", a.status)
		}
		if a := cross.post(path+"/notes", url.Values{"text": {"cross-site note"}}); a.status != http.StatusForbidden {
			t.Fatalf("cross-site note: %d", a.status)
		}
		// An oversized form.
		if a := c.post(path+"/notes", url.Values{"text": {strings.Repeat("x", 20<<10)}}); a.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("oversized note: %d", a.status)
		}
		if version() != v || e.count(t, "SELECT COUNT(*) FROM request_notes") != 0 {
			t.Fatal("a refused post changed something")
		}
		// An empty note is refused and audited.
		if a := c.post(path+"/notes", url.Values{"text": {"   "}}); a.status != http.StatusBadRequest || e.auditCount(t, "dsr.request.note", "invalid") != 1 {
			t.Fatalf("empty note: %d", a.status)
		}

		// A note is stored sealed and shown on the page.
		const secret = "Caller said her maiden name is Smithson"
		if a := c.post(path+"/notes", url.Values{"text": {secret}}); a.status != http.StatusSeeOther {
			t.Fatalf("note: %d", a.status)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM request_notes WHERE request_id = $1 AND author = $2", r.ID, "staff:"+support.id); n != 1 {
			t.Fatalf("notes: %d", n)
		}
		var sealed []byte
		if err := e.db.Read().QueryRowContext(t.Context(), "SELECT sealed FROM request_notes WHERE request_id = $1", r.ID).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(sealed), "Smithson") {
			t.Fatal("the note is stored in plaintext")
		}
		if p := c.get(path); !strings.Contains(p.body, secret) {
			t.Error("the note is not on the page")
		}
		if e.count(t, "SELECT COUNT(*) FROM audit_events WHERE action = 'dsr.request.notes.read'") == 0 {
			t.Error("reading the notes was not audited")
		}

		// Assignment to an auditor is refused and audited; to support it works.
		aud := e.enrolled(t, "aud@example.org", auth.RoleAuditor)
		if a := c.post(path+"/assign", url.Values{"staff": {aud.id}}); a.status != http.StatusBadRequest || e.auditCount(t, "dsr.request.assign", "invalid") != 1 {
			t.Fatalf("assign to auditor: %d", a.status)
		}
		if a := c.post(path+"/assign", url.Values{"staff": {support.id}}); a.status != http.StatusSeeOther {
			t.Fatalf("assign: %d", a.status)
		}
		if p := c.get(path); !strings.Contains(p.body, `id="request-assigned">support@example.org`) {
			t.Error("assignee not shown")
		}

		// Start work, then refuse as manifestly excessive with the
		// recorded justification: it shows in the history.
		if a := c.post(path+"/transition", url.Values{"to": {"in_progress"}}); a.status != http.StatusSeeOther {
			t.Fatalf("start: %d %s", a.status, a.body)
		}
		const why = "Fifth identical request this month (1, 8, 15, 22 May)"
		if a := c.post(path+"/transition", url.Values{"to": {"refused"}, "code": {"manifestly-excessive"}, "text": {why}}); a.status != http.StatusSeeOther {
			t.Fatalf("refuse: %d", a.status)
		}
		p := c.get(path)
		if !strings.Contains(p.body, `id="request-state">Refused`) || !strings.Contains(p.body, why) || !strings.Contains(p.body, "Manifestly excessive") {
			t.Error("refusal not shown in the history")
		}
		if strings.Contains(p.body, `action="`+path+`/transition"`) {
			t.Error("a closed request still offers transitions")
		}
	})
}

// TestStaffIntake: a request received by letter is entered with its real
// receipt time, and the deadlines count from it; a time in the future is
// refused and nothing is written.
func TestStaffIntake(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
		e := newEnv(t, envOptions{engine: eng})
		dpo := e.enrolled(t, "dpo@example.org", auth.RoleDPO)
		c := e.client(t)
		c.cookie = e.session(t, dpo.id, false)
		subject := e.subject(t, "contact")
		if a := c.get("/console/requests/new"); a.status != http.StatusOK || !strings.Contains(a.body, `name="received_at"`) {
			t.Fatalf("intake form: %d", a.status)
		}
		future := e.clock.Now().Add(48 * time.Hour).Format("2006-01-02T15:04")
		a := c.post("/console/requests", url.Values{"subject": {subject}, "kind": {"access"}, "channel": {"staff-letter"}, "received_at": {future}})
		if a.status != http.StatusBadRequest || e.count(t, "SELECT COUNT(*) FROM requests") != 0 {
			t.Fatalf("future receipt: %d", a.status)
		}
		if e.auditCount(t, "dsr.request.submit", "invalid") != 1 {
			t.Error("refused submission not audited")
		}
		// The web form's channel is not a staff channel.
		if a := c.post("/console/requests", url.Values{"kind": {"access"}, "channel": {"portal"}}); a.status != http.StatusBadRequest {
			t.Fatalf("portal channel: %d", a.status)
		}
		received := time.Date(2026, 5, 26, 9, 15, 0, 0, time.UTC)
		a = c.post("/console/requests", url.Values{"subject": {subject}, "kind": {"rectification"}, "channel": {"staff-letter"},
			"received_at": {received.Format("2006-01-02T15:04")}, "fields": {"contact.city = Bremen"}, "message": {"I moved."}})
		if a.status != http.StatusSeeOther {
			t.Fatalf("intake: %d %s", a.status, a.body)
		}
		id := strings.TrimPrefix(a.header.Get("Location"), "/console/requests/")
		r, err := e.dsr.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !r.ReceivedAt.Equal(received) || r.Channel != dsr.StaffLetter || r.CreatedBy != "staff:"+dpo.id {
			t.Fatalf("entered request: %+v", r)
		}
		if want := time.Date(2026, 6, 26, 0, 0, 0, 0, time.UTC); r.LegalDueAt.Before(want) || r.LegalDueAt.After(want.Add(24*time.Hour)) {
			t.Errorf("legal deadline %s, want the end of 26 June 2026", r.LegalDueAt)
		}
		p := c.get("/console/requests/" + id)
		if !strings.Contains(p.body, "Bremen") || !strings.Contains(p.body, "I moved.") || !strings.Contains(p.body, "2026-05-26 09:15 UTC") {
			t.Error("the request page does not show the entered request")
		}
	})
}

// TestErasureApproval: the auditor may not approve (refused, audited,
// nothing erased); a refusal needs a reason; support approves, the
// category is erased, and the erasure page shows the decision and the
// receipt.
func TestErasureApproval(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, eng sqlstore.Engine) {
		e := newEnv(t, envOptions{engine: eng})
		aud := e.enrolled(t, "aud@example.org", auth.RoleAuditor)
		sup := e.enrolled(t, "sup@example.org", auth.RoleSupport)
		subjectID, r, erasureID := e.awaitingApproval(t)
		state := func() string {
			var s string
			if err := e.db.Read().QueryRowContext(t.Context(), "SELECT state FROM erasure_items WHERE erasure_id = $1 AND category = 'security'", erasureID).Scan(&s); err != nil {
				t.Fatal(err)
			}
			return s
		}
		ac := e.client(t)
		ac.cookie = e.session(t, aud.id, false)
		if a := ac.get("/console/erasures"); a.status != http.StatusOK || !strings.Contains(a.body, erasureID) || !strings.Contains(a.body, subjectID) {
			t.Fatalf("approvals list: %d", a.status)
		}
		if a := ac.get("/console/erasures/" + erasureID); strings.Contains(a.body, `id="approve-security"`) {
			t.Error("the auditor is offered the approval")
		}
		if a := ac.post("/console/erasures/"+erasureID+"/security", url.Values{"decision": {"approve"}}); a.status != http.StatusForbidden {
			t.Fatalf("auditor approval: %d", a.status)
		}
		if state() != "awaiting_approval" || e.auditCount(t, "console.forbidden", "forbidden") != 1 {
			t.Fatal("the auditor's approval changed something or was not audited")
		}
		sc := e.client(t)
		sc.cookie = e.session(t, sup.id, false)
		if a := sc.post("/console/erasures/"+erasureID+"/security", url.Values{"decision": {"refuse"}, "reason": {" "}}); a.status != http.StatusBadRequest {
			t.Fatalf("refusal without reason: %d", a.status)
		}
		if state() != "awaiting_approval" || e.auditCount(t, "erasure.refuse", "invalid") != 1 {
			t.Fatal("a refusal without reason changed something or was not audited")
		}
		a := sc.post("/console/erasures/"+erasureID+"/security", url.Values{"decision": {"approve"}})
		if a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/erasures/"+erasureID {
			t.Fatalf("approval: %d", a.status)
		}
		if state() != "erased" {
			t.Fatal("not erased")
		}
		p := sc.get("/console/erasures/" + erasureID)
		if !strings.Contains(p.body, "sup@example.org") || !strings.Contains(p.body, "erasure-receipt") || !strings.Contains(p.body, "Erased") {
			t.Errorf("erasure page after approval: %s", p.body)
		}
		if got, _ := e.dsr.Get(t.Context(), r.ID); got.State != dsr.Completed {
			t.Errorf("request after the last approval: %s", got.State)
		}
		if a := sc.get("/console/erasures"); !strings.Contains(a.body, `id="approvals-empty"`) {
			t.Error("the approval is still listed")
		}
	})
}
