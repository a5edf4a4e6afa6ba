package vault_test

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

func TestEveryOperationIsAuditedOnce(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newVault(t, e)
		ctx := t.Context()
		want := map[string]int{}
		// op runs one vault operation that must append exactly one event
		// with the given action.
		op := func(action string, do func() error) {
			t.Helper()
			before := count(t, en.db, "audit_events", "")
			if err := do(); err != nil && errcode.Of(err) != errcode.NotFound {
				t.Fatalf("%s: %v", action, err)
			}
			want[action]++
			if n := count(t, en.db, "audit_events", "") - before; n != 1 {
				t.Fatalf("%s appended %d audit events, want 1", action, n)
			}
		}

		var a, b *vault.Subject
		op("subject.create", func() (err error) {
			a, err = en.v.Create(ctx, staff, vault.NewSubject{Email: "a@example.org", Data: map[string]json.RawMessage{"contact": raw(`{"name":"A"}`)}})
			return err
		})
		op("subject.create", func() (err error) {
			b, err = en.v.Create(ctx, staff, vault.NewSubject{ExternalID: "b", Phone: "+4930123456"})
			return err
		})
		op("subject.create", func() error {
			_, err := en.v.Create(ctx, staff, vault.NewSubject{ExternalID: "c"})
			return err
		})

		// Reads under different purposes and actors; each must be recorded
		// with the actor and purpose it was made under.
		reads := []vault.Actor{
			{Name: "staff:alice", Purpose: "support"},
			{Name: "apikey:ak_1", Purpose: "service-delivery"},
			{Name: "staff:bob", Purpose: "billing"},
			{Name: "subject:a", Purpose: "dsr"},
		}
		for _, r := range reads {
			op("subject.read", func() error { _, err := en.v.Get(ctx, r, a.ID); return err })
		}
		op("subject.lookup", func() error { _, err := en.v.Lookup(ctx, staff, vault.KindEmail, "A@example.org"); return err })
		op("subject.lookup", func() error { _, err := en.v.Lookup(ctx, staff, vault.KindEmail, "nobody@example.org"); return err })
		op("subject.data.read", func() error { _, err := en.v.GetData(ctx, staff, a.ID, "contact"); return err })
		op("subject.rectify", func() error {
			_, err := en.v.Update(ctx, staff, a.ID, vault.Patch{Email: ptr("a2@example.org")})
			return err
		})
		op("subject.data.put", func() error { return en.v.PutData(ctx, staff, a.ID, "billing", raw(`{"vat":"DE1"}`)) })
		op("subject.data.put", func() error { return en.v.PutData(ctx, staff, a.ID, "billing", raw(`{"vat":"DE2"}`)) })
		op("subject.data.erase", func() error { _, err := en.v.EraseCategory(ctx, staff, a.ID, "billing"); return err })
		op("subject.erase", func() error { _, err := en.v.Erase(ctx, system, b.ID); return err })
		op("subject.read", func() error { _, err := en.v.Get(ctx, staff, b.ID); return err })               // erased: not found
		op("subject.read", func() error { _, err := en.v.Get(ctx, staff, randomSubjectID(t)); return err }) // never existed
		op("category.create", func() error { return en.v.AddCategory(ctx, staff, vault.Category{Name: "devices"}) })

		if got := auditCounts(t, en.db); !maps.Equal(got, want) {
			t.Errorf("events by action = %v, want %v", got, want)
		}

		rep, err := audit.Verify(ctx, en.db.Read(), en.kr.CheckpointPublicKey(), nil)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		total := 0
		for _, n := range want {
			total += n
		}
		if !rep.OK || rep.Events != int64(total) || rep.Checkpoints != total/checkpointEvery {
			t.Errorf("Verify = %+v, want OK with %d events and %d checkpoints", rep, total, total/checkpointEvery)
		}

		t.Run("reads carry actor and purpose", func(t *testing.T) {
			var got []vault.Actor
			for _, ev := range eventsOf(t, en, a.ID) {
				if ev.Action == "subject.read" {
					got = append(got, vault.Actor{Name: ev.Actor, Purpose: ev.Purpose})
					if ev.Result != "ok" {
						t.Errorf("read event result %q, want ok", ev.Result)
					}
				}
			}
			if len(got) != len(reads) {
				t.Fatalf("%d read events for the subject, want %d", len(got), len(reads))
			}
			for i := range reads {
				if got[i] != reads[i] {
					t.Errorf("read %d audited as %+v, want %+v", i, got[i], reads[i])
				}
			}
		})
		t.Run("targets are not plaintext ids", func(t *testing.T) {
			evs := eventsOf(t, en, b.ID)
			if len(evs) != 3 { // create, erase, read after erasure
				t.Fatalf("%d events for the erased subject, want 3", len(evs))
			}
			for _, ev := range evs {
				if strings.Contains(ev.Target, b.ID) || strings.Contains(ev.Target, "sub_") {
					t.Errorf("event target %q names the subject in plaintext", ev.Target)
				}
			}
			if last := evs[2]; last.Result != "not_found" {
				t.Errorf("read after erasure audited with result %q, want not_found", last.Result)
			}
		})
	})
}
