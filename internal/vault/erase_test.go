package vault_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

// installAuditFailure makes every insert into audit_events fail with the
// message "injected"; the returned func removes it again.
func installAuditFailure(t *testing.T, en *env) (remove func()) {
	t.Helper()
	if en.engine == sqlstore.SQLite {
		execWrite(t, en.db, `CREATE TRIGGER audit_fail BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'injected'); END`)
		return func() { execWrite(t, en.db, `DROP TRIGGER audit_fail`) }
	}
	execWrite(t, en.db,
		`CREATE FUNCTION audit_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$`,
		`CREATE TRIGGER audit_fail BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_fail()`)
	return func() { execWrite(t, en.db, `DROP TRIGGER audit_fail ON audit_events`, `DROP FUNCTION audit_fail()`) }
}

func TestNoChangeWithoutAuditEvent(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newVault(t, e)
		ctx := t.Context()
		s := mustCreate(t, en.v, vault.NewSubject{
			ExternalID: "cust-1", Email: "kept@example.org",
			Data: map[string]json.RawMessage{"contact": raw(`{"name":"Kept"}`)},
		})
		keyIDs := subjectKeyIDs(t, en.db, s.ID)
		before := snapshot(t, en.db, stateTables...)

		remove := installAuditFailure(t, en)
		ops := []struct {
			name string
			do   func() error
		}{
			{"Create", func() error {
				_, err := en.v.Create(ctx, staff, vault.NewSubject{Email: "new@example.org", Data: map[string]json.RawMessage{"contact": raw(`{"name":"New"}`)}})
				return err
			}},
			{"Update", func() error {
				_, err := en.v.Update(ctx, staff, s.ID, vault.Patch{Email: ptr("changed@example.org"), Data: map[string]json.RawMessage{"contact": raw(`{"name":"Changed"}`)}})
				return err
			}},
			{"PutData contact", func() error { return en.v.PutData(ctx, staff, s.ID, "contact", raw(`{"name":"Replaced"}`)) }},
			{"PutData billing", func() error { return en.v.PutData(ctx, staff, s.ID, "billing", raw(`{"iban":"X"}`)) }},
			{"EraseCategory", func() error { _, err := en.v.EraseCategory(ctx, staff, s.ID, "contact"); return err }},
			{"Erase", func() error { _, err := en.v.Erase(ctx, staff, s.ID); return err }},
			{"AddCategory", func() error { return en.v.AddCategory(ctx, staff, vault.Category{Name: "devices"}) }},
			// A read that cannot be audited is not served either.
			{"Get", func() error { _, err := en.v.Get(ctx, staff, s.ID); return err }},
			{"Lookup", func() error { _, err := en.v.Lookup(ctx, staff, vault.KindEmail, "kept@example.org"); return err }},
		}
		for _, op := range ops {
			t.Run(op.name, func(t *testing.T) {
				err := op.do()
				if err == nil || !strings.Contains(err.Error(), "injected") {
					t.Fatalf("with audit inserts failing, %s returned %v; want the injected failure", op.name, err)
				}
				sameSnapshot(t, snapshot(t, en.db, stateTables...), before)
				if n := keysPresent(t, en.keysDB, keyIDs...); n != len(keyIDs) {
					t.Errorf("%d of the subject's %d keys left after a failed %s", n, len(keyIDs), op.name)
				}
			})
		}
		remove()

		sameSubject(t, mustGet(t, en.v, s.ID), s)
		_, err := en.v.Lookup(ctx, staff, vault.KindEmail, "new@example.org")
		wantCode(t, err, errcode.NotFound)
		if n := count(t, en.db, "categories", "name = 'devices'"); n != 0 {
			t.Errorf("the failed AddCategory left its category")
		}
		// The identifiers of the failed Create and Update were never taken.
		mustCreate(t, en.v, vault.NewSubject{Email: "new@example.org"})
		mustCreate(t, en.v, vault.NewSubject{Email: "changed@example.org"})
	})
}

// sealedRow is one sealed value of a subject as a backup would hold it,
// with what is needed to open it.
type sealedRow struct {
	what   string // for messages
	keyID  string
	sealed []byte
	ad     []string
}

// sealedRows copies every sealed value of subject id out of db: identifiers,
// category data and the sealed details of its audit events.
func sealedRows(t *testing.T, en *env, db *sqlstore.DB, id string) []sealedRow {
	t.Helper()
	ctx := t.Context()
	var out []sealedRow
	var subjectKey string
	if err := db.Read().QueryRowContext(ctx, "SELECT key_id FROM subjects WHERE id = $1", id).Scan(&subjectKey); err != nil {
		t.Fatalf("read subject %s: %v", id, err)
	}
	rows, err := db.Read().QueryContext(ctx, "SELECT kind, sealed FROM subject_identifiers WHERE subject_id = $1", id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r sealedRow
		var kind string
		if err := rows.Scan(&kind, &r.sealed); err != nil {
			t.Fatal(err)
		}
		r.what, r.keyID, r.ad = "identifier "+kind, subjectKey, []string{"identifier", id, kind}
		out = append(out, r)
	}
	rows.Close()
	rows, err = db.Read().QueryContext(ctx, "SELECT category, key_id, sealed FROM subject_data WHERE subject_id = $1", id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r sealedRow
		var cat string
		if err := rows.Scan(&cat, &r.keyID, &r.sealed); err != nil {
			t.Fatal(err)
		}
		r.what, r.ad = "data "+cat, []string{"subject_data", id, cat}
		out = append(out, r)
	}
	rows.Close()
	evs, err := audit.ListByTarget(ctx, db.Read(), en.target(id), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.KeyID != "" {
			out = append(out, sealedRow{what: "audit " + ev.Action, keyID: ev.KeyID, sealed: ev.Details, ad: []string{"audit", ev.Target}})
		}
	}
	return out
}

// decryptable counts how many rows open with the keys in the current key
// store.
func decryptable(t *testing.T, en *env, rows []sealedRow) int {
	t.Helper()
	n := 0
	for _, r := range rows {
		dks, err := en.ks.Open(t.Context(), r.keyID)
		if err != nil {
			t.Fatalf("open key %s: %v", r.keyID, err)
		}
		dk, ok := dks[r.keyID]
		if !ok {
			continue
		}
		if _, err := dk.Open(r.sealed, r.ad...); err != nil {
			t.Errorf("%s: key present but does not open: %v", r.what, err)
			continue
		}
		n++
	}
	return n
}

func TestErasureShredsEveryCopy(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newVault(t, e)
		ctx := t.Context()
		victim := mustCreate(t, en.v, vault.NewSubject{
			ExternalID: "victim-1", Email: "victim@example.org", Phone: "+33 1 23 45 67 89",
			Data: map[string]json.RawMessage{"contact": raw(`{"name":"Victim"}`), "billing": raw(`{"iban":"FR76"}`)},
		})
		bystander := mustCreate(t, en.v, vault.NewSubject{
			Email: "bystander@example.org", Data: map[string]json.RawMessage{"contact": raw(`{"name":"Bystander"}`)},
		})
		// Leave sealed audit details behind: a rectification and reads.
		if _, err := en.v.Update(ctx, staff, victim.ID, vault.Patch{Email: ptr("victim2@example.org")}); err != nil {
			t.Fatal(err)
		}
		mustGet(t, en.v, victim.ID)
		mustGet(t, en.v, bystander.ID)
		keyIDs := subjectKeyIDs(t, en.db, victim.ID)

		// A logical backup: the sealed rows as they are now.
		backup := sealedRows(t, en, en.db, victim.ID)
		if len(backup) < 3+2+3 { // identifiers, categories, audit events with details
			t.Fatalf("backup holds %d sealed values of the victim, want at least 8", len(backup))
		}
		bystanderBackup := sealedRows(t, en, en.db, bystander.ID)

		// On SQLite, also a copy of the database file itself.
		var fileCopy *sqlstore.DB
		if e == sqlstore.SQLite {
			if err := en.db.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(en.db.Path())
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "copy.db")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			fileCopy = openStore(t, path, "main")
		}
		checkCopies := func(t *testing.T, want int) {
			t.Helper()
			if n := decryptable(t, en, backup); n != want {
				t.Errorf("%d of %d backed-up sealed values open, want %d", n, len(backup), want)
			}
			if fileCopy != nil {
				rows := sealedRows(t, en, fileCopy, victim.ID)
				if len(rows) != len(backup) {
					t.Fatalf("file copy holds %d sealed values of the victim, want %d", len(rows), len(backup))
				}
				if n := decryptable(t, en, rows); n != want {
					t.Errorf("%d of %d sealed values in the file copy open, want %d", n, len(rows), want)
				}
			}
		}

		t.Run("before erasure every copy opens", func(t *testing.T) { checkCopies(t, len(backup)) })

		if _, err := en.v.Erase(ctx, staff, victim.ID); err != nil {
			t.Fatalf("Erase: %v", err)
		}

		t.Run("after erasure no copy opens", func(t *testing.T) { checkCopies(t, 0) })
		t.Run("keys destroyed and tombstoned", func(t *testing.T) {
			if n := keysPresent(t, en.keysDB, keyIDs...); n != 0 {
				t.Errorf("%d of %d data keys of the erased subject left in the key store", n, len(keyIDs))
			}
			for _, k := range keyIDs {
				if count(t, en.db, "key_tombstones", "key_id = $1", k) != 1 {
					t.Errorf("no tombstone for key %s", k)
				}
			}
		})
		t.Run("sealed audit details erased", func(t *testing.T) {
			evs := eventsOf(t, en, victim.ID)
			opened := 0
			for _, ev := range evs {
				if ev.KeyID == "" {
					continue
				}
				if d, err := en.v.OpenAuditDetails(ctx, ev); err == nil {
					opened++
					t.Errorf("details of %s still open: %s", ev.Action, d)
				}
			}
			if opened != 0 {
				t.Errorf("%d audit details of the erased subject still open", opened)
			}
		})
		t.Run("other subjects untouched", func(t *testing.T) {
			if n := decryptable(t, en, bystanderBackup); n != len(bystanderBackup) {
				t.Errorf("%d of %d sealed values of another subject open, want all", n, len(bystanderBackup))
			}
			sameSubject(t, mustGet(t, en.v, bystander.ID), bystander)
		})
	})
}

func TestTombstonesAreAppliedAtStartUp(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		setup := func(t *testing.T) (en *env, victim, bystander *vault.Subject, victimKeys, bystanderKeys []string) {
			en = newVault(t, e)
			victim = mustCreate(t, en.v, vault.NewSubject{Email: "victim@example.org", Data: map[string]json.RawMessage{"contact": raw(`{"name":"V"}`)}})
			bystander = mustCreate(t, en.v, vault.NewSubject{Email: "bystander@example.org", Data: map[string]json.RawMessage{"contact": raw(`{"name":"B"}`)}})
			return en, victim, bystander, subjectKeyIDs(t, en.db, victim.ID), subjectKeyIDs(t, en.db, bystander.ID)
		}
		check := func(t *testing.T, en *env, victim, bystander *vault.Subject, victimKeys, bystanderKeys []string) {
			t.Helper()
			if n := keysPresent(t, en.keysDB, victimKeys...); n != 0 {
				t.Errorf("%d tombstoned keys survived vault.New", n)
			}
			if n := keysPresent(t, en.keysDB, bystanderKeys...); n != len(bystanderKeys) {
				t.Errorf("vault.New destroyed keys that have no tombstone")
			}
			_, err := en.v.Get(t.Context(), staff, victim.ID)
			wantCode(t, err, errcode.NotFound)
			sameSubject(t, mustGet(t, en.v, bystander.ID), bystander)
		}

		t.Run("crash after the erasure commit", func(t *testing.T) {
			en, victim, bystander, victimKeys, bystanderKeys := setup(t)
			// What Erase commits in the main store, without the key
			// destruction that follows it.
			ctx := t.Context()
			err := en.db.Write(ctx, func(tx *sqlstore.Tx) error {
				for _, k := range victimKeys {
					if _, err := tx.ExecContext(ctx, "INSERT INTO key_tombstones (key_id, at) VALUES ($1, 1)", k); err != nil {
						return err
					}
				}
				_, err := tx.ExecContext(ctx, "DELETE FROM subjects WHERE id = $1", victim.ID)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := keysPresent(t, en.keysDB, victimKeys...); n != len(victimKeys) {
				t.Fatalf("setup: %d of %d keys present before restart", n, len(victimKeys))
			}
			en.v = en.newVaultOnly(t)
			check(t, en, victim, bystander, victimKeys, bystanderKeys)
		})

		t.Run("key store down during erasure", func(t *testing.T) {
			en, victim, bystander, victimKeys, bystanderKeys := setup(t)
			en.keysDB.Close()
			if _, err := en.v.Erase(t.Context(), staff, victim.ID); err == nil {
				t.Fatalf("Erase with the key store down reported success")
			}
			if n := count(t, en.db, "subjects", "id = $1", victim.ID); n != 0 {
				t.Fatalf("the erasure did not commit in the main store")
			}
			ks := openStore(t, en.keysURL, "keys")
			if n := keysPresent(t, ks, victimKeys...); n != len(victimKeys) {
				t.Fatalf("setup: %d of %d keys present before restart, want all", n, len(victimKeys))
			}
			ks.Close()
			en.reopen(t)
			check(t, en, victim, bystander, victimKeys, bystanderKeys)
		})
	})
}
