package vault_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

// TestCreateMany: subjects created in bulk read, look up, audit and erase
// exactly like subjects made by Create: identifiers sealed and
// blind-indexed, each category under a key of its own in the key store,
// one sealed subject.create event each.
func TestCreateMany(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newVault(t, e)
		ctx := t.Context()
		var ns []vault.NewSubject
		for i := range 3 {
			ns = append(ns, vault.NewSubject{
				ExternalID: fmt.Sprintf("bulk-%d", i),
				Email:      fmt.Sprintf("Bulk%d@Example.org", i),
				Data: map[string]json.RawMessage{
					"contact": raw(fmt.Sprintf(`{"name": "Person %d"}`, i)),
					"profile": raw(`{"lang": "de"}`),
				},
			})
		}
		ns[2].Data = nil // a subject with identifiers only
		ids, err := en.v.CreateMany(ctx, system, ns)
		if err != nil {
			t.Fatalf("CreateMany: %v", err)
		}
		if len(ids) != 3 {
			t.Fatalf("CreateMany returned %d ids, want 3", len(ids))
		}
		for i, id := range ids {
			got := mustGet(t, en.v, id)
			if got.ExternalID != ns[i].ExternalID || got.Email != fmt.Sprintf("bulk%d@example.org", i) {
				t.Errorf("subject %d reads back as %+v", i, got)
			}
			if len(got.Data) != len(ns[i].Data) {
				t.Errorf("subject %d has categories %v, want %d", i, got.Data, len(ns[i].Data))
			}
			if i < 2 && string(got.Data["contact"]) != fmt.Sprintf(`{"name":"Person %d"}`, i) {
				t.Errorf("subject %d contact = %s", i, got.Data["contact"])
			}
			found, err := en.v.Lookup(ctx, staff, vault.KindEmail, fmt.Sprintf("bulk%d@example.org", i))
			if err != nil || found.ID != id {
				t.Errorf("Lookup of subject %d: %v, %v", i, found, err)
			}
			evs := eventsOf(t, en, id)
			if len(evs) == 0 || evs[0].Action != "subject.create" || evs[0].Actor != system.Name {
				t.Fatalf("subject %d: first audit event %+v, want subject.create by %s", i, evs, system.Name)
			}
			details, err := en.v.OpenAuditDetails(ctx, evs[0])
			if err != nil || len(details) == 0 {
				t.Errorf("subject %d: create details do not open: %s, %v", i, details, err)
			}
		}
		if n := count(t, en.db, "subject_data", ""); n != 4 {
			t.Errorf("%d subject_data rows, want 4", n)
		}
		// Erasure does the real work: every key of the subject goes.
		rec, err := en.v.Erase(ctx, system, ids[0])
		if err != nil {
			t.Fatalf("Erase: %v", err)
		}
		if rec.KeysDestroyed != 3 || len(rec.Categories) != 2 || len(rec.Identifiers) != 2 {
			t.Errorf("erasure receipt %+v, want 3 keys, 2 categories, 2 identifiers", rec)
		}
		keyIDs := []string{}
		rows, err := en.db.Read().QueryContext(ctx, "SELECT key_id FROM key_tombstones")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k string
			rows.Scan(&k)
			keyIDs = append(keyIDs, k)
		}
		rows.Close()
		for _, k := range keyIDs {
			if n := count(t, en.keysDB, "data_keys", "id = $1", k); n != 0 {
				t.Errorf("key %s survived the erasure", k)
			}
		}
		if len(keyIDs) != 3 {
			t.Errorf("%d tombstones, want 3", len(keyIDs))
		}
	})
}

// TestCreateManyFailsWhole: one bad or duplicate subject fails the call
// and writes nothing.
func TestCreateManyFailsWhole(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newVault(t, e)
		ctx := t.Context()
		mustCreate(t, en.v, vault.NewSubject{Email: "taken@example.org"})
		tests := []struct {
			name   string
			second vault.NewSubject
			code   errcode.Code
		}{
			{"invalid e-mail", vault.NewSubject{Email: "not an address"}, errcode.Invalid},
			{"no identifier", vault.NewSubject{Data: map[string]json.RawMessage{"contact": raw(`{}`)}}, errcode.Invalid},
			{"unknown category", vault.NewSubject{Email: "x@example.org", Data: map[string]json.RawMessage{"horoscope": raw(`{}`)}}, errcode.Invalid},
			{"duplicate", vault.NewSubject{Email: "taken@example.org"}, errcode.Conflict},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := count(t, en.db, "subjects", "")
				events := count(t, en.db, "audit_events", "")
				_, err := en.v.CreateMany(ctx, system, []vault.NewSubject{{Email: "fine@example.org"}, tt.second})
				wantCode(t, err, tt.code)
				if n := count(t, en.db, "subjects", ""); n != before {
					t.Errorf("%d subjects after the failure, want %d", n, before)
				}
				if n := count(t, en.db, "audit_events", ""); n != events {
					t.Errorf("%d audit events after the failure, want %d", n, events)
				}
			})
		}
	})
}
