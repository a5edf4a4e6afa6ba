package dsr_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

// canaries are values only a test would write; none may be found in the
// database in the clear.
var canaries = []string{
	"Canary-Name-7f3a9",     // a rectified value
	"canary-msg-41d0c",      // the person's message
	"canary-merged-c0ffee",  // a value brought by a merged submission
	"canary-refusal-b16b00", // the words of a refusal
	"canary-extend-5ca1ab",  // the words of an extension
}

// TestSealing covers what is sealed with the subject's key, on one
// database per engine.
func TestSealing(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		t.Parallel()
		f := newFixture(t, e, nil)
		t.Run("not in the clear", func(t *testing.T) { testSealedDetailsAreNotStoredInTheClear(t, f) })
		t.Run("erasure", func(t *testing.T) { testRequestOutlivesErasure(t, f) })
		t.Run("audit details", func(t *testing.T) { testAuditDetailsOpenWithTheVault(t, f) })
	})
}

// testSealedDetailsAreNotStoredInTheClear: what the person wrote and what
// staff wrote about them is sealed with the subject's key: no canary shows
// in any dsr or audit row (nor, on SQLite, anywhere in the database files),
// yet each can be read back through the audited readers.
func testSealedDetailsAreNotStoredInTheClear(t *testing.T, f *fixture) {
	ctx := t.Context()
	sub := f.newSubject(t)
	s := f.mustSubmit(t, person(sub), dsr.NewRequest{SubjectID: sub, Kind: dsr.Rectification, Channel: dsr.Portal,
		Details: dsr.Details{Fields: map[string]string{"name": canaries[0]}, Message: canaries[1]}})
	if !s.SealedDetails || s.Details.Fields != nil || s.Details.Message != "" {
		t.Errorf("Submit returned personal details in the clear: %+v", s.Details)
	}
	m := f.mustSubmit(t, hostApp, dsr.NewRequest{SubjectID: sub, Kind: dsr.Rectification, Channel: dsr.API,
		Details: dsr.Details{Fields: map[string]string{"address.city": canaries[2]}}, IdempotencyKey: "k1"})
	if !m.Merged {
		t.Fatal("second rectification was not merged")
	}
	if _, err := f.svc.Extend(ctx, dpo, s.ID, dsr.Reason{Code: dsr.Complexity, Text: canaries[4]}); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	if _, err := f.svc.Transition(ctx, dpo, s.ID, dsr.Refused, dsr.Reason{Code: dsr.ManifestlyUnfounded, Text: canaries[3]}); err != nil {
		t.Fatalf("refuse: %v", err)
	}

	dump := f.dump(t)
	for _, c := range canaries {
		if bytes.Contains(dump, []byte(c)) {
			t.Errorf("%q is stored in the clear", c)
		}
	}
	if f.engine == sqlstore.SQLite {
		for _, path := range []string{f.db.Path(), f.db.Path() + "-wal"} {
			b, err := os.ReadFile(path)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			for _, c := range canaries {
				if bytes.Contains(b, []byte(c)) {
					t.Errorf("%q is in %s in the clear", c, path)
				}
			}
		}
	}

	// Sealed, not lost: the audited readers open them.
	d, err := f.svc.OpenDetails(ctx, dpo, s.ID)
	if err != nil {
		t.Fatalf("OpenDetails: %v", err)
	}
	if d.Fields["name"] != canaries[0] || d.Message != canaries[1] {
		t.Errorf("OpenDetails = %+v", d)
	}
	hist, err := f.svc.History(ctx, dpo, s.ID)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	var words []string
	for _, ev := range hist {
		words = append(words, ev.Text)
		if ev.Personal != nil {
			words = append(words, ev.Personal.Fields["address.city"])
		}
	}
	for _, c := range canaries[2:] {
		if !strings.Contains(strings.Join(words, " "), c) {
			t.Errorf("history does not give back %q: %q", c, words)
		}
	}
	tgt := f.target(s.Request)
	for _, action := range []string{"dsr.request.details.read", "dsr.request.history.read"} {
		if n := f.count(t, "SELECT COUNT(*) FROM audit_events WHERE target = $1 AND action = $2 AND actor = $3", tgt, action, dpo.Name); n != 1 {
			t.Errorf("%d %s audit events, want 1", n, action)
		}
	}
}

// dump returns every row of the dsr tables and the audit log as bytes.
func (f *fixture) dump(t *testing.T) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, table := range []string{"requests", "request_events", "request_idempotency", "request_notifications", "audit_events"} {
		rows, err := f.db.Read().QueryContext(t.Context(), "SELECT * FROM "+table)
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
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
				switch v := v.(type) {
				case []byte:
					out.Write(v)
				default:
					fmt.Fprint(&out, v)
				}
				out.WriteByte(0)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if n == 0 {
			t.Fatalf("dump: %s is empty, the test would prove nothing", table)
		}
	}
	return out.Bytes()
}

// testRequestOutlivesErasure: erasing the subject through the vault keeps
// the request (the controller must show it answered), unlinks it, and
// makes everything sealed about it unreadable; the request can still be
// completed.
func testRequestOutlivesErasure(t *testing.T, f *fixture) {
	ctx := t.Context()
	sub := f.newSubject(t)
	s := f.mustSubmit(t, person(sub), dsr.NewRequest{SubjectID: sub, Kind: dsr.Erasure, Channel: dsr.Portal,
		Details: dsr.Details{All: true, Message: "Please delete my account."}})
	f.mustTransition(t, s.ID, dsr.InProgress, dsr.Reason{Text: "Checked: no legal hold."})

	if _, err := f.vault.Erase(ctx, vault.Actor{Name: "system", Purpose: "dsr"}, sub); err != nil {
		t.Fatalf("vault.Erase: %v", err)
	}
	r := f.mustGet(t, s.ID)
	if r.SubjectID != "" || r.State != dsr.InProgress || !r.Details.All || !r.SealedDetails {
		t.Errorf("after erasure: %+v", r)
	}
	if _, err := f.svc.OpenDetails(ctx, dpo, s.ID); errcode.Of(err) != errcode.Gone {
		t.Errorf("OpenDetails after erasure: %v, want gone", err)
	}
	done, err := f.svc.Transition(ctx, dpo, s.ID, dsr.Completed, dsr.Reason{})
	if err != nil {
		t.Fatalf("complete after erasure: %v", err)
	}
	hist, err := f.svc.History(ctx, dpo, done.ID)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	if len(hist) != 3 {
		t.Fatalf("history has %d events, want 3", len(hist))
	}
	if ev := hist[1]; !ev.Erased || ev.Text != "" {
		t.Errorf("sealed words after erasure: %+v", ev)
	}
	if ev := hist[2]; ev.To != dsr.Completed || ev.Erased {
		t.Errorf("completion event: %+v", ev)
	}
}

// testAuditDetailsOpenWithTheVault: the sealed details of dsr audit events
// use the vault's convention, so the subject's access export can show
// them, and they name the request event they belong to.
func testAuditDetailsOpenWithTheVault(t *testing.T, f *fixture) {
	r := f.open(t, dsr.Objection, dsr.Details{Purposes: []string{"security"}})
	r = f.mustTransition(t, r.ID, dsr.InProgress, dsr.Reason{})
	events, err := f.svc.History(t.Context(), dpo, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("%d events, want 2", len(events))
	}
	for _, ev := range events {
		var target, keyID string
		var details []byte
		if err := f.db.Read().QueryRowContext(t.Context(), "SELECT target, key_id, details FROM audit_events WHERE seq = $1",
			ev.AuditSeq).Scan(&target, &keyID, &details); err != nil {
			t.Fatal(err)
		}
		plain, err := f.vault.OpenAuditDetails(t.Context(), audit.Event{Target: target, KeyID: keyID, Details: details})
		if err != nil {
			t.Fatalf("OpenAuditDetails of v%d: %v", ev.Version, err)
		}
		var got struct {
			Request string `json:"request"`
			Version int64  `json:"version"`
			To      string `json:"to"`
		}
		if err := json.Unmarshal(plain, &got); err != nil {
			t.Fatal(err)
		}
		if got.Request != r.ID || got.Version != ev.Version || got.To != string(ev.To) {
			t.Errorf("audit details %s, want request %s v%d to %s", plain, r.ID, ev.Version, ev.To)
		}
	}
}
