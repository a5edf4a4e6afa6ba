package api_test

import (
	"net/http"
	"testing"

	"github.com/gdprd/gdprd/client"
)

// restrictionAnswer is the answer of POST /subjects/{id}/restriction.
type restrictionAnswer struct {
	SubjectID  string `json:"subject_id"`
	Restricted bool   `json:"restricted"`
	Changed    bool   `json:"changed"`
	Notified   string `json:"notified"`
}

// TestRestrictionThroughAPI restricts a subject whose consent decision is
// cached, and checks through the API that the cached decision is dropped
// (the check answers restricted), that reads for other purposes answer 423
// while storage may still read, that lifting needs the person told (a
// queued mail, or notified_by evidence for a person without e-mail), and
// that after the lifting everything is as before.
func TestRestrictionThroughAPI(t *testing.T) {
	t.Parallel()
	f := newConsentFixture(t)
	c := newClient(t, f.base, f.vars["writer"])
	noMail, err := c.CreateSubject(t.Context(), client.NewSubject{ExternalID: "shop-4711"})
	if err != nil {
		t.Fatal(err)
	}
	f.vars["nomail"] = noMail.ID
	check := func(t *testing.T) decision {
		t.Helper()
		var d decision
		f.must(t, "GET", "/subjects/{bob}/consents/newsletter", "creader", "", http.StatusOK, &d)
		return d
	}
	liftedMails := func(t *testing.T) int {
		t.Helper()
		var n int
		if err := openRO(t, f.dataDir).QueryRowContext(t.Context(),
			"SELECT COUNT(*) FROM mail_messages WHERE kind = 'subject.restriction-lifted'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	restrict := func(t *testing.T, subject, body string, want restrictionAnswer) {
		t.Helper()
		var got restrictionAnswer
		f.must(t, "POST", "/subjects/"+subject+"/restriction", "writer", body, http.StatusOK, &got)
		want.SubjectID = f.expand(subject)
		if got != want {
			t.Errorf("restriction answered %+v, want %+v", got, want)
		}
	}

	// The check is answered, and on SQLite cached, before the restriction.
	for range 2 {
		if d := check(t); !d.Allowed {
			t.Fatalf("before the restriction: %+v, want allowed", d)
		}
	}
	f.must(t, "GET", "/subjects/{bob}", "reader", "", http.StatusOK, nil)

	t.Run("refusals", func(t *testing.T) {
		for _, sc := range []scenario{
			{name: "read-only key", method: "POST", path: "/subjects/{bob}/restriction", headers: reader("Content-Type", jsonCT),
				body: `{"restricted": true, "reason": "accuracy contested"}`, wantStatus: 403, wantCode: "forbidden"},
			{name: "no state", method: "POST", path: "/subjects/{bob}/restriction", headers: writer("Content-Type", jsonCT),
				body: `{"reason": "accuracy contested"}`, wantStatus: 400, wantCode: "invalid", wantField: "restricted"},
			{name: "no reason", method: "POST", path: "/subjects/{bob}/restriction", headers: writer("Content-Type", jsonCT),
				body: `{"restricted": true}`, wantStatus: 400, wantCode: "invalid", wantField: "reason"},
			{name: "unknown subject", method: "POST", path: "/subjects/sub_aaaaaaaaaaaaaaaaaaaaaaaaaa/restriction", headers: writer("Content-Type", jsonCT),
				body: `{"restricted": true, "reason": "x"}`, wantStatus: 404, wantCode: "not_found"},
			{name: "unknown language", method: "POST", path: "/subjects/{bob}/restriction", headers: writer("Content-Type", jsonCT),
				body: `{"restricted": false, "reason": "x", "language": "xx"}`, wantStatus: 400, wantCode: "invalid", wantField: "language"},
		} {
			t.Run(sc.name, func(t *testing.T) { sc.run(t, f.fixture) })
		}
		if d := check(t); !d.Allowed {
			t.Errorf("a refused restriction restricted: %+v", d)
		}
	})

	restrict(t, "{bob}", `{"restricted": true, "reason": "the person contests the accuracy of the data"}`,
		restrictionAnswer{Restricted: true, Changed: true})

	if d := check(t); d.Allowed || d.Reason != "restricted" {
		t.Errorf("consent check of a restricted subject: %+v, want allowed:false reason restricted (the cached decision must be dropped)", d)
	}
	resp, body := f.call(t, "GET", "/subjects/{bob}", "reader", "")
	wantProblem(t, resp, body, http.StatusLocked, "restricted", "", f.dataDir)
	resp, body = f.call(t, "GET", "/subjects/{bob}/data/contact", "reader", "")
	if resp.StatusCode != http.StatusLocked && resp.StatusCode != http.StatusNotFound {
		t.Errorf("data read of a restricted subject: %d %s", resp.StatusCode, body)
	}
	resp, body = send(t, f.hc, "GET", f.base+"/api/v1/subjects/"+f.vars["bob"],
		map[string]string{"Authorization": "Bearer " + f.vars["reader"], "Gdprd-Purpose": "storage"}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("read for storage of a restricted subject: %d %s, want 200 (Art. 18(2))", resp.StatusCode, body)
	}
	restrict(t, "{bob}", `{"restricted": true, "reason": "again"}`, restrictionAnswer{Restricted: true, Changed: false})

	t.Run("lifting without e-mail needs evidence", func(t *testing.T) {
		restrict(t, "{nomail}", `{"restricted": true, "reason": "objection pending"}`, restrictionAnswer{Restricted: true, Changed: true})
		sc := scenario{method: "POST", path: "/subjects/{nomail}/restriction", headers: writer("Content-Type", jsonCT),
			body: `{"restricted": false, "reason": "objection decided"}`, wantStatus: 400, wantCode: "invalid", wantField: "notified_by"}
		sc.run(t, f.fixture)
		resp, body := f.call(t, "GET", "/subjects/{nomail}", "reader", "")
		wantProblem(t, resp, body, http.StatusLocked, "restricted", "", f.dataDir)
		restrict(t, "{nomail}", `{"restricted": false, "reason": "objection decided", "notified_by": "letter of 2 March"}`,
			restrictionAnswer{Restricted: false, Changed: true, Notified: "other"})
		f.must(t, "GET", "/subjects/{nomail}", "reader", "", http.StatusOK, nil)
		if n := liftedMails(t); n != 0 {
			t.Errorf("%d notices queued for a person without e-mail", n)
		}
	})

	restrict(t, "{bob}", `{"restricted": false, "reason": "accuracy verified", "language": "de"}`,
		restrictionAnswer{Restricted: false, Changed: true, Notified: "email"})
	if n := liftedMails(t); n != 1 {
		t.Errorf("%d lifting notices queued, want 1", n)
	}
	if d := check(t); !d.Allowed {
		t.Errorf("after the lifting: %+v, want allowed", d)
	}
	f.must(t, "GET", "/subjects/{bob}", "reader", "", http.StatusOK, nil)
}
