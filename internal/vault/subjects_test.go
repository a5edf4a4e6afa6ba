package vault_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

func TestCreateGetLookup(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newVault(t, e)
		ctx := t.Context()
		created := mustCreate(t, en.v, vault.NewSubject{
			ExternalID: "  cust-0001 ",
			Email:      "Ada@Example.ORG ",
			Phone:      "0049301234567",
			Data: map[string]json.RawMessage{
				"contact": raw(`{ "name": "Ada Lovelace",  "city": "London" }`),
				"profile": raw(`{"lang": "en"}`),
			},
		})
		if !vault.ValidSubjectID(created.ID) {
			t.Fatalf("Create returned id %q, not a valid subject id", created.ID)
		}
		want := &vault.Subject{
			ID: created.ID, ExternalID: "cust-0001", Email: "ada@example.org", Phone: "+49301234567",
			Data: map[string]json.RawMessage{
				"contact": raw(`{"name":"Ada Lovelace","city":"London"}`),
				"profile": raw(`{"lang":"en"}`),
			},
			CreatedAt: created.CreatedAt, UpdatedAt: created.CreatedAt,
		}
		sameSubject(t, created, want)
		sameSubject(t, mustGet(t, en.v, created.ID), want)

		// A second subject, so that a lookup that ignored its key would be
		// caught returning the wrong one.
		other := mustCreate(t, en.v, vault.NewSubject{ExternalID: "cust-0002", Email: "grace@example.org", Phone: "+1 212 555 0100"})

		tests := []struct {
			name, kind, value string
			want              string // subject id; "" for not found
		}{
			{"email as stored", vault.KindEmail, "ada@example.org", created.ID},
			{"email mixed case and blanks", vault.KindEmail, "Ada@Example.ORG ", created.ID},
			{"email upper case", vault.KindEmail, "ADA@EXAMPLE.ORG", created.ID},
			{"phone with separators", vault.KindPhone, "+49 30 1234-567", created.ID},
			{"phone with 00 prefix", vault.KindPhone, "0049301234567", created.ID},
			{"phone with trunk zero", vault.KindPhone, "+49 (0)30 1234567", created.ID},
			{"external id trimmed", vault.KindExternalID, "\tcust-0001  ", created.ID},
			{"other subject by phone", vault.KindPhone, "+12125550100", other.ID},
			{"other subject by external id", vault.KindExternalID, "cust-0002", other.ID},
			{"external id is case sensitive", vault.KindExternalID, "CUST-0001", ""},
			{"unknown email", vault.KindEmail, "ada@example.com", ""},
			{"unknown phone", vault.KindPhone, "+49301234568", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s, err := en.v.Lookup(ctx, staff, tt.kind, tt.value)
				if tt.want == "" {
					wantCode(t, err, errcode.NotFound)
					return
				}
				if err != nil {
					t.Fatalf("Lookup(%s, %q): %v", tt.kind, tt.value, err)
				}
				if s.ID != tt.want {
					t.Fatalf("Lookup(%s, %q) found %s, want %s", tt.kind, tt.value, s.ID, tt.want)
				}
				if s.ID == created.ID {
					sameSubject(t, s, want)
				}
			})
		}
	})
}

func TestUpdateRectifiesAndKeepsOldValuesOnlyInSealedAudit(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newVault(t, e)
		ctx := t.Context()
		const oldEmail, newEmail = "ada.byron@example.org", "ada.lovelace@example.org"
		s := mustCreate(t, en.v, vault.NewSubject{
			Email: oldEmail, Phone: "+44 20 7946 0958",
			Data: map[string]json.RawMessage{"contact": raw(`{"name":"Ada Byron","city":"London"}`)},
		})
		oldKeys := subjectKeyIDs(t, en.db, s.ID) // subject key, contact key

		got, err := en.v.Update(ctx, staff, s.ID, vault.Patch{
			Email: ptr(" Ada.Lovelace@Example.ORG"),
			Phone: ptr(""), // removes the phone
			Data:  map[string]json.RawMessage{"contact": raw(`{"name":"Ada Lovelace","city":null}`)},
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if got.Email != newEmail || got.Phone != "" {
			t.Errorf("Update returned email %q phone %q, want %q and none", got.Email, got.Phone, newEmail)
		}
		if !jsonEqual(t, got.Data["contact"], []byte(`{"name":"Ada Lovelace"}`)) {
			t.Errorf("Update returned contact %s, want the merge patch applied", got.Data["contact"])
		}
		// What Update answers is what the vault now serves.
		sameSubject(t, mustGet(t, en.v, s.ID), got)

		t.Run("old identifiers no longer served", func(t *testing.T) {
			_, err := en.v.Lookup(ctx, staff, vault.KindEmail, oldEmail)
			wantCode(t, err, errcode.NotFound)
			_, err = en.v.Lookup(ctx, staff, vault.KindPhone, "+442079460958")
			wantCode(t, err, errcode.NotFound)
			found, err := en.v.Lookup(ctx, staff, vault.KindEmail, newEmail)
			if err != nil || found.ID != s.ID {
				t.Fatalf("Lookup(new email) = %v, %v; want subject %s", found, err, s.ID)
			}
		})

		t.Run("live record holds only the new value", func(t *testing.T) {
			if n := count(t, en.db, "subject_identifiers", "subject_id = $1", s.ID); n != 1 {
				t.Errorf("subject has %d identifier rows, want 1 (the new email)", n)
			}
			var sealed []byte
			if err := en.db.Read().QueryRowContext(ctx, "SELECT sealed FROM subject_identifiers WHERE subject_id = $1 AND kind = 'email'", s.ID).Scan(&sealed); err != nil {
				t.Fatal(err)
			}
			dks, err := en.ks.Open(ctx, oldKeys[0])
			if err != nil {
				t.Fatal(err)
			}
			plain, err := dks[oldKeys[0]].Open(sealed, "identifier", s.ID, vault.KindEmail)
			if err != nil || string(plain) != newEmail {
				t.Errorf("stored email opens to %q, %v; want %q", plain, err, newEmail)
			}
			// The replaced contact version was sealed under a key of its
			// own, which is now destroyed: no copy of the old value opens.
			if n := keysPresent(t, en.keysDB, oldKeys[1]); n != 0 {
				t.Errorf("the key of the replaced contact data is still in the key store")
			}
			if n := count(t, en.db, "key_tombstones", "key_id = $1", oldKeys[1]); n != 1 {
				t.Errorf("the key of the replaced contact data has no tombstone")
			}
		})

		t.Run("audit event seals before and after", func(t *testing.T) {
			var rectify []int
			evs := eventsOf(t, en, s.ID)
			for i, ev := range evs {
				if ev.Action == "subject.rectify" {
					rectify = append(rectify, i)
				}
			}
			if len(rectify) != 1 {
				t.Fatalf("found %d subject.rectify events, want 1", len(rectify))
			}
			ev := evs[rectify[0]]
			if ev.KeyID != oldKeys[0] {
				t.Errorf("rectify details sealed with %q, want the subject key %q", ev.KeyID, oldKeys[0])
			}
			for _, plain := range []string{oldEmail, newEmail, "Ada Byron", "London"} {
				if strings.Contains(string(ev.Details), plain) {
					t.Errorf("stored audit details contain %q in plaintext", plain)
				}
			}
			details, err := en.v.OpenAuditDetails(ctx, ev)
			if err != nil {
				t.Fatalf("OpenAuditDetails: %v", err)
			}
			var d struct {
				Before map[string]json.RawMessage `json:"before"`
				After  map[string]json.RawMessage `json:"after"`
			}
			if err := json.Unmarshal(details, &d); err != nil {
				t.Fatalf("details %s: %v", details, err)
			}
			checks := []struct {
				name string
				got  json.RawMessage
				want string
			}{
				{"before email", d.Before["email"], `"` + oldEmail + `"`},
				{"after email", d.After["email"], `"` + newEmail + `"`},
				{"before phone", d.Before["phone"], `"+442079460958"`},
				{"after phone", d.After["phone"], `""`},
				{"before contact", d.Before["data.contact"], `{"name":"Ada Byron","city":"London"}`},
				{"after contact", d.After["data.contact"], `{"name":"Ada Lovelace"}`},
			}
			for _, c := range checks {
				if c.got == nil || !jsonEqual(t, c.got, []byte(c.want)) {
					t.Errorf("%s = %s, want %s (details %s)", c.name, c.got, c.want, details)
				}
			}
		})
	})
}

func TestDataPutGetEraseCategory(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newVault(t, e)
		ctx := t.Context()
		s := mustCreate(t, en.v, vault.NewSubject{
			ExternalID: "cust-7",
			Data:       map[string]json.RawMessage{"contact": raw(`{"name":"Alan Turing"}`)},
		})
		contactKey := subjectKeyIDs(t, en.db, s.ID)[1]

		if err := en.v.PutData(ctx, staff, s.ID, "billing", raw(` { "iban" : "GB33BUKB20201555555555" } `)); err != nil {
			t.Fatalf("PutData(billing): %v", err)
		}
		got, err := en.v.GetData(ctx, staff, s.ID, "billing")
		if err != nil || string(got) != `{"iban":"GB33BUKB20201555555555"}` {
			t.Fatalf("GetData(billing) = %s, %v; want the compacted object", got, err)
		}

		if err := en.v.PutData(ctx, staff, s.ID, "contact", raw(`{"name":"A. M. Turing"}`)); err != nil {
			t.Fatalf("PutData(contact): %v", err)
		}
		got, err = en.v.GetData(ctx, staff, s.ID, "contact")
		if err != nil || string(got) != `{"name":"A. M. Turing"}` {
			t.Fatalf("GetData(contact) = %s, %v; want the replacement", got, err)
		}
		if keysPresent(t, en.keysDB, contactKey) != 0 {
			t.Errorf("replacing contact data left the old version's key in the key store")
		}

		keysBefore := subjectKeyIDs(t, en.db, s.ID) // subject, billing, contact
		r, err := en.v.EraseCategory(ctx, staff, s.ID, "billing")
		if err != nil {
			t.Fatalf("EraseCategory: %v", err)
		}
		if r.Scope != "category" || len(r.Categories) != 1 || r.Categories[0] != "billing" || r.KeysDestroyed != 1 || r.SubjectID != s.ID {
			t.Errorf("receipt = %+v, want one billing key destroyed", *r)
		}
		if r.AuditSeq <= 0 {
			t.Errorf("receipt points at audit seq %d", r.AuditSeq)
		}
		_, err = en.v.GetData(ctx, staff, s.ID, "billing")
		wantCode(t, err, errcode.NotFound)
		if keysPresent(t, en.keysDB, keysBefore[1]) != 0 {
			t.Errorf("erased category's key %s is still in the key store", keysBefore[1])
		}
		if keysPresent(t, en.keysDB, keysBefore[0], keysBefore[2]) != 2 {
			t.Errorf("erasing one category destroyed other keys of the subject")
		}
		after := mustGet(t, en.v, s.ID)
		if _, ok := after.Data["billing"]; ok || string(after.Data["contact"]) != `{"name":"A. M. Turing"}` {
			t.Errorf("after erasing billing the subject has data %v", after.Data)
		}
		_, err = en.v.EraseCategory(ctx, staff, s.ID, "billing")
		wantCode(t, err, errcode.NotFound)
		_, err = en.v.GetData(ctx, staff, s.ID, "marketing")
		wantCode(t, err, errcode.NotFound)
	})
}

func TestErasedSubjectIsIndistinguishableFromUnknown(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newVault(t, e)
		ctx := t.Context()
		s := mustCreate(t, en.v, vault.NewSubject{
			ExternalID: "cust-9", Email: "erase.me@example.org",
			Data: map[string]json.RawMessage{"contact": raw(`{"name":"Erased"}`), "usage": raw(`{"jobs":3}`)},
		})
		keyIDs := subjectKeyIDs(t, en.db, s.ID)

		r, err := en.v.Erase(ctx, staff, s.ID)
		if err != nil {
			t.Fatalf("Erase: %v", err)
		}
		if r.Scope != "subject" || r.SubjectID != s.ID || r.KeysDestroyed != 3 ||
			fmt.Sprint(r.Identifiers) != "[email external_id]" || fmt.Sprint(r.Categories) != "[contact usage]" {
			t.Errorf("receipt = %+v", *r)
		}
		for _, table := range []string{"subjects WHERE id = $1", "subject_identifiers WHERE subject_id = $1", "subject_data WHERE subject_id = $1"} {
			name, where, _ := strings.Cut(table, " WHERE ")
			if n := count(t, en.db, name, where, s.ID); n != 0 {
				t.Errorf("%d rows left in %s after erasure", n, name)
			}
		}
		if n := keysPresent(t, en.keysDB, keyIDs...); n != 0 {
			t.Errorf("%d of the subject's keys left in the key store after erasure", n)
		}

		never := randomSubjectID(t)
		ops := []struct {
			name string
			do   func(id string) error
		}{
			{"Get", func(id string) error { _, err := en.v.Get(ctx, staff, id); return err }},
			{"GetData", func(id string) error { _, err := en.v.GetData(ctx, staff, id, "contact"); return err }},
			{"Update", func(id string) error {
				_, err := en.v.Update(ctx, staff, id, vault.Patch{Email: ptr("new@example.org")})
				return err
			}},
			{"PutData", func(id string) error { return en.v.PutData(ctx, staff, id, "contact", raw(`{}`)) }},
			{"EraseCategory", func(id string) error { _, err := en.v.EraseCategory(ctx, staff, id, "contact"); return err }},
			{"Erase", func(id string) error { _, err := en.v.Erase(ctx, staff, id); return err }},
		}
		for _, op := range ops {
			t.Run(op.name, func(t *testing.T) {
				errErased, errNever := op.do(s.ID), op.do(never)
				wantCode(t, errErased, errcode.NotFound)
				wantCode(t, errNever, errcode.NotFound)
				if errErased.Error() != errNever.Error() {
					t.Errorf("erased subject answers %q, unknown one %q", errErased, errNever)
				}
			})
		}
		t.Run("Lookup", func(t *testing.T) {
			_, errErased := en.v.Lookup(ctx, staff, vault.KindEmail, "erase.me@example.org")
			_, errNever := en.v.Lookup(ctx, staff, vault.KindEmail, "never.was@example.org")
			wantCode(t, errErased, errcode.NotFound)
			wantCode(t, errNever, errcode.NotFound)
			if errErased.Error() != errNever.Error() {
				t.Errorf("erased subject answers %q, unknown one %q", errErased, errNever)
			}
		})
		// Its identifiers are free again.
		mustCreate(t, en.v, vault.NewSubject{ExternalID: "cust-9", Email: "erase.me@example.org"})
	})
}

func TestIdentifiersAreUniqueUnderConcurrency(t *testing.T) {
	t.Parallel()
	const n = 50
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		tests := []struct {
			kind string
			make func(i int) vault.NewSubject
		}{
			// The shared identifier is spelled differently each time, so
			// the database must see normalised values.
			{vault.KindEmail, func(i int) vault.NewSubject {
				return vault.NewSubject{ExternalID: fmt.Sprintf("email-%d", i), Email: []string{"Same@Example.org", "same@example.ORG "}[i%2]}
			}},
			{vault.KindPhone, func(i int) vault.NewSubject {
				return vault.NewSubject{ExternalID: fmt.Sprintf("phone-%d", i), Phone: []string{"+49 30 1234-567", "0049301234567"}[i%2]}
			}},
			{vault.KindExternalID, func(i int) vault.NewSubject {
				return vault.NewSubject{ExternalID: []string{"shared-1", " shared-1 "}[i%2], Email: fmt.Sprintf("u%d@example.org", i)}
			}},
		}
		en := newVault(t, e)
		ctx := t.Context()
		for _, tt := range tests {
			t.Run(tt.kind, func(t *testing.T) {
				subjects, idents := count(t, en.db, "subjects", ""), count(t, en.db, "subject_identifiers", "")
				creates := auditCounts(t, en.db)["subject.create"]
				start := make(chan struct{})
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						<-start
						_, errs[i] = en.v.Create(ctx, staff, tt.make(i))
					})
				}
				close(start)
				wg.Wait()
				ok, conflicts := 0, 0
				for _, err := range errs {
					switch {
					case err == nil:
						ok++
					case errcode.Of(err) == errcode.Conflict:
						conflicts++
						if ce, _ := errcode.As(err); ce.Field != tt.kind {
							t.Errorf("conflict names field %q, want %q", ce.Field, tt.kind)
						}
					default:
						t.Errorf("Create: unexpected error: %v", err)
					}
				}
				if ok != 1 || conflicts != n-1 {
					t.Errorf("%d creates succeeded and %d conflicted, want 1 and %d", ok, conflicts, n-1)
				}
				if got := count(t, en.db, "subjects", "") - subjects; got != 1 {
					t.Errorf("subjects gained %d rows, want 1", got)
				}
				if got := count(t, en.db, "subject_identifiers", "") - idents; got != 2 {
					t.Errorf("subject_identifiers gained %d rows, want 2", got)
				}
				if got := auditCounts(t, en.db)["subject.create"] - creates; got != 1 {
					t.Errorf("%d subject.create events, want 1", got)
				}
			})
		}
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newVault(t, e)
		ctx := t.Context()
		s := mustCreate(t, en.v, vault.NewSubject{
			ExternalID: "cust-1", Email: "kept@example.org",
			Data: map[string]json.RawMessage{"contact": raw(`{"name":"Kept"}`)},
		})
		create := func(n vault.NewSubject) func() error {
			return func() error { _, err := en.v.Create(ctx, staff, n); return err }
		}
		update := func(p vault.Patch) func() error {
			return func() error { _, err := en.v.Update(ctx, staff, s.ID, p); return err }
		}
		data := func(cat, v string) map[string]json.RawMessage { return map[string]json.RawMessage{cat: raw(v)} }
		tests := []struct {
			name string
			do   func() error
		}{
			{"create unknown category", create(vault.NewSubject{Email: "a@example.org", Data: data("horoscope", `{"sign":"leo"}`)})},
			{"create category data array", create(vault.NewSubject{Email: "a@example.org", Data: data("contact", `["Ada"]`)})},
			{"create category data string", create(vault.NewSubject{Email: "a@example.org", Data: data("contact", `"Ada"`)})},
			{"create category data null", create(vault.NewSubject{Email: "a@example.org", Data: data("contact", `null`)})},
			{"create category data empty", create(vault.NewSubject{Email: "a@example.org", Data: data("contact", ``)})},
			{"create category data broken JSON", create(vault.NewSubject{Email: "a@example.org", Data: data("contact", `{"name":`)})},
			{"create invalid email", create(vault.NewSubject{Email: "not-an-email"})},
			{"create email with two @", create(vault.NewSubject{Email: "a@b@example.org"})},
			{"create phone without country code", create(vault.NewSubject{Phone: "030 1234567"})},
			{"create phone with letters", create(vault.NewSubject{Phone: "+49 30 CALL-ME"})},
			{"create blank external id", create(vault.NewSubject{ExternalID: "   "})},
			{"create no identifier", create(vault.NewSubject{Data: data("contact", `{"name":"Nobody"}`)})},
			{"create valid identifier but invalid phone", create(vault.NewSubject{Email: "b@example.org", Phone: "12"})},
			{"put unknown category", func() error { return en.v.PutData(ctx, staff, s.ID, "horoscope", raw(`{}`)) }},
			{"put non-object", func() error { return en.v.PutData(ctx, staff, s.ID, "contact", raw(`[1,2]`)) }},
			{"update unknown category", update(vault.Patch{Data: data("horoscope", `{}`)})},
			{"update non-object", update(vault.Patch{Data: data("contact", `42`)})},
			{"update invalid email", update(vault.Patch{Email: ptr("nope")})},
			{"update invalid phone", update(vault.Patch{Phone: ptr("+0 123")})},
			{"get unknown purpose", func() error {
				_, err := en.v.Get(ctx, vault.Actor{Name: "staff:x", Purpose: "curiosity"}, s.ID)
				return err
			}},
			{"get malformed purpose", func() error {
				_, err := en.v.Get(ctx, vault.Actor{Name: "staff:x", Purpose: "Not A Slug"}, s.ID)
				return err
			}},
			{"lookup unknown purpose", func() error {
				_, err := en.v.Lookup(ctx, vault.Actor{Name: "staff:x", Purpose: "curiosity"}, vault.KindEmail, "kept@example.org")
				return err
			}},
			{"lookup invalid email", func() error { _, err := en.v.Lookup(ctx, staff, vault.KindEmail, "kept"); return err }},
			{"get data unknown category", func() error { _, err := en.v.GetData(ctx, staff, s.ID, "horoscope"); return err }},
			{"erase unknown category", func() error { _, err := en.v.EraseCategory(ctx, staff, s.ID, "horoscope"); return err }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				counts := func() [3]int {
					return [3]int{count(t, en.db, "subjects", ""), count(t, en.db, "subject_identifiers", ""), count(t, en.db, "subject_data", "")}
				}
				beforeCounts, before := counts(), snapshot(t, en.db, personalTables...)
				wantCode(t, tt.do(), errcode.Invalid)
				if after := counts(); after != beforeCounts {
					t.Errorf("row counts (subjects, identifiers, data) went from %v to %v", beforeCounts, after)
				}
				sameSnapshot(t, snapshot(t, en.db, personalTables...), before)
			})
		}
		sameSubject(t, mustGet(t, en.v, s.ID), s)
	})
}

func TestRestrictedSubjectReadOnlyForStorageAndLegalClaims(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newVault(t, e)
		ctx := t.Context()
		s := mustCreate(t, en.v, vault.NewSubject{Email: "held@example.org", Data: map[string]json.RawMessage{"billing": raw(`{"invoice":"2026-001"}`)}})
		if got := mustGet(t, en.v, s.ID); got.Restricted {
			t.Fatalf("a new subject is restricted")
		}
		err := en.db.Write(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE subjects SET restricted = 1 WHERE id = $1", s.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			purpose string
			want    errcode.Code // "" for allowed
		}{
			{"service-delivery", errcode.Restricted},
			{"support", errcode.Restricted},
			{"billing", errcode.Restricted},
			{"legal-claims", ""},
			{"storage", ""},
			{"dsr-access", ""},
		}
		refused := 0
		for _, tt := range tests {
			t.Run(tt.purpose, func(t *testing.T) {
				a := vault.Actor{Name: "staff:x", Purpose: tt.purpose}
				got, err := en.v.Get(ctx, a, s.ID)
				_, lerr := en.v.Lookup(ctx, a, vault.KindEmail, "held@example.org")
				_, derr := en.v.GetData(ctx, a, s.ID, "billing")
				if tt.want != "" {
					refused += 3
					wantCode(t, err, tt.want)
					wantCode(t, lerr, tt.want)
					wantCode(t, derr, tt.want)
					return
				}
				if err != nil || lerr != nil || derr != nil {
					t.Fatalf("Get, Lookup, GetData = %v, %v, %v; want allowed", err, lerr, derr)
				}
				if !got.Restricted || string(got.Data["billing"]) != `{"invoice":"2026-001"}` {
					t.Errorf("Get = %+v, want the restricted subject with its data", *got)
				}
			})
		}
		var n int
		if err := en.db.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_events WHERE target = $1 AND result = 'restricted'", en.target(s.ID)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != refused {
			t.Errorf("%d refused reads audited as restricted, want %d", n, refused)
		}
	})
}

// Keys handed out by KeyStore.Take are already durable, so a write that
// fails after taking keys must destroy them or they stay behind as orphans
// in the key store.
func TestFailedWritesLeaveNoOrphanKeys(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newVault(t, e)
		ctx := t.Context()
		a := mustCreate(t, en.v, vault.NewSubject{Email: "a@example.org", Data: map[string]json.RawMessage{"contact": raw(`{"name":"A"}`)}})
		mustCreate(t, en.v, vault.NewSubject{Email: "b@example.org"})
		contact := map[string]json.RawMessage{"contact": raw(`{"name":"X"}`)}
		tests := []struct {
			name  string
			taken int // keys the operation takes before it fails
			code  errcode.Code
			do    func() error
		}{
			{"create conflict", 2, errcode.Conflict, func() error {
				_, err := en.v.Create(ctx, staff, vault.NewSubject{Email: "b@example.org", Data: contact})
				return err
			}},
			{"update conflict", 1, errcode.Conflict, func() error {
				_, err := en.v.Update(ctx, staff, a.ID, vault.Patch{Email: ptr("b@example.org"), Data: contact})
				return err
			}},
			{"update unknown subject", 1, errcode.NotFound, func() error {
				_, err := en.v.Update(ctx, staff, randomSubjectID(t), vault.Patch{Data: contact})
				return err
			}},
			{"put data unknown subject", 1, errcode.NotFound, func() error {
				return en.v.PutData(ctx, staff, randomSubjectID(t), "contact", raw(`{}`))
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := count(t, en.keysDB, "data_keys", "")
				wantCode(t, tt.do(), tt.code)
				if after := count(t, en.keysDB, "data_keys", ""); after != before-tt.taken {
					t.Errorf("key store holds %d data keys after the failure, want %d (the %d taken destroyed)", after, before-tt.taken, tt.taken)
				}
			})
		}
		sameSubject(t, mustGet(t, en.v, a.ID), a)
	})
}
