package dsr_test

import (
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

// TestNotes: staff notes are sealed with the subject's key, read back
// (audited), refused for non-staff and without a subject, and unreadable
// once the subject is erased.
func TestNotes(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e, nil)
		ctx := t.Context()
		r := f.open(t, dsr.Access, dsr.Details{})
		const text = "Called back; she spells it Smithson"
		n, err := f.svc.AddNote(ctx, support, r.ID, "  "+text+"\n")
		if err != nil {
			t.Fatal(err)
		}
		if n.Text != text || n.Author != support.Name {
			t.Fatalf("note %+v", n)
		}
		var sealed []byte
		if err := f.db.Read().QueryRowContext(ctx, "SELECT sealed FROM request_notes WHERE id = $1", n.ID).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(sealed), "Smithson") {
			t.Fatal("note stored in plaintext")
		}
		for name, tc := range map[string]struct {
			a    dsr.Actor
			text string
			want errcode.Code
		}{
			"person":   {person(r.SubjectID), "mine", errcode.Forbidden},
			"api key":  {hostApp, "from the app", errcode.Forbidden},
			"empty":    {support, " \t", errcode.Invalid},
			"too long": {support, strings.Repeat("a", dsr.MaxNote+1), errcode.Invalid},
			"nul":      {support, "a\x00b", errcode.Invalid},
		} {
			if _, err := f.svc.AddNote(ctx, tc.a, r.ID, tc.text); errcode.Of(err) != tc.want {
				t.Errorf("%s: %v, want %s", name, err, tc.want)
			}
		}
		if got := countAudit(t, f, "dsr.request.note", "forbidden") + countAudit(t, f, "dsr.request.note", "invalid"); got != 5 {
			t.Errorf("refusals audited: %d", got)
		}
		notes, err := f.svc.Notes(ctx, dpo, r.ID)
		if err != nil || len(notes) != 1 || notes[0].Text != text {
			t.Fatalf("notes %+v %v", notes, err)
		}
		if countAudit(t, f, "dsr.request.notes.read", "ok") != 1 {
			t.Error("reading notes not audited")
		}
		if _, err := f.svc.Notes(ctx, person(r.SubjectID), r.ID); errcode.Of(err) != errcode.Forbidden {
			t.Errorf("a person read staff notes: %v", err)
		}
		// A request without a subject has no key to seal with.
		anon, err := f.svc.Submit(ctx, public, dsr.NewRequest{Kind: dsr.Access, Channel: dsr.Form})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AddNote(ctx, support, anon.ID, "who is this"); errcode.Of(err) != errcode.Conflict {
			t.Errorf("note without subject: %v", err)
		}
		// Erasing the subject takes the note's words with it.
		if _, err := f.vault.Erase(ctx, vault.Actor{Name: "staff:dpo", Purpose: "dsr"}, r.SubjectID); err != nil {
			t.Fatal(err)
		}
		notes, err = f.svc.Notes(ctx, dpo, r.ID)
		if err != nil || len(notes) != 1 || !notes[0].Erased || notes[0].Text != "" {
			t.Fatalf("after erasure: %+v %v", notes, err)
		}
	})
}

func countAudit(t *testing.T, f *fixture, action, result string) int {
	t.Helper()
	var n int
	if err := f.db.Read().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM audit_events WHERE action = $1 AND result = $2", action, result).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
