package consent_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

// vaultSealer seals with subjects' keys through the vault's exported API
// (the subject row names its key; the key store opens it), as a production
// Sealer would.
type vaultSealer struct {
	db *sqlstore.DB
	ks *vault.KeyStore
}

func (s vaultSealer) Seal(ctx context.Context, subjectID string, plaintext []byte, ad ...string) ([]byte, string, error) {
	var keyID string
	err := s.db.Read().QueryRowContext(ctx, "SELECT key_id FROM subjects WHERE id = $1", subjectID).Scan(&keyID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", errcode.E(errcode.NotFound, "no such subject")
	}
	if err != nil {
		return nil, "", err
	}
	dk, err := s.key(ctx, keyID)
	if err != nil {
		return nil, "", err
	}
	sealed, err := dk.Seal(plaintext, ad...)
	return sealed, keyID, err
}

func (s vaultSealer) Open(ctx context.Context, _ string, keyID string, sealed []byte, ad ...string) ([]byte, error) {
	dk, err := s.key(ctx, keyID)
	if err != nil {
		return nil, err
	}
	return dk.Open(sealed, ad...)
}

func (s vaultSealer) key(ctx context.Context, keyID string) (*keys.DataKey, error) {
	dks, err := s.ks.Open(ctx, keyID)
	if err != nil {
		return nil, err
	}
	dk, ok := dks[keyID]
	if !ok {
		return nil, errcode.E(errcode.Gone, "erased with its subject")
	}
	return dk, nil
}

// TestVaultErasureTakesTheRecords runs the register beside the real vault:
// the vault can open the details of consent audit events (they are sealed
// the way it seals its own), and erasing a subject removes their records
// and state and makes their proof and audit details unreadable, while
// other people's records stay.
func TestVaultErasureTakesTheRecords(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := t.Context()
		db := sqltest.Open(t, e, "main")
		keysDB := sqltest.Open(t, e, "keys")
		c := &clock{now: time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC)}
		kr, err := keys.NewKeyring(testMaster)
		if err != nil {
			t.Fatal(err)
		}
		ks, err := vault.OpenKeyStore(ctx, keysDB, kr, c.Now)
		if err != nil {
			t.Fatalf("OpenKeyStore: %v", err)
		}
		log := audit.New(audit.Options{Clock: c.Now})
		v, err := vault.New(ctx, vault.Options{DB: db, KeyStore: ks, Keyring: kr, Audit: log, Clock: c.Now})
		if err != nil {
			t.Fatalf("vault.New: %v", err)
		}
		t.Cleanup(v.Close)
		reg, err := consent.New(consent.Options{DB: db, Audit: log, Sealer: vaultSealer{db, v.KeyStore()}, Targets: kr, Clock: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		policy, err := reg.DraftNotice(ctx, dpo, "privacy-policy", draft("# Privacy"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reg.PublishNotice(ctx, dpo, "privacy-policy", policy.Version); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.CreatePurpose(ctx, dpo, purpose("newsletter", consent.Consent, nil)); err != nil {
			t.Fatal(err)
		}
		staff := vault.Actor{Name: "staff:dpo", Purpose: "dsr"}
		var ids []string
		var recs []consent.Record
		for _, email := range []string{"ada@example.org", "grace@example.org"} {
			s, err := v.Create(ctx, staff, vault.NewSubject{Email: email})
			if err != nil {
				t.Fatalf("vault Create: %v", err)
			}
			req := consent.Request{SubjectID: s.ID, Kind: consent.Grant, Purpose: "newsletter", NoticeVersion: policy.Version,
				Channel: consent.Portal, Action: consent.Checkbox, IP: "192.0.2.1", UserAgent: "Test/1.0"}
			rec, err := reg.Record(ctx, subjectActor(s.ID), req)
			if err != nil {
				t.Fatalf("Record: %v", err)
			}
			ids, recs = append(ids, s.ID), append(recs, rec)
		}
		gone, kept := ids[0], ids[1]

		event := consentEvent(t, db, kr.AuditTarget("subject", gone))
		details, err := v.OpenAuditDetails(ctx, event)
		if err != nil || !strings.Contains(string(details), recs[0].ID) {
			t.Fatalf("the vault opens the consent event's details as %s, %v; want them to name %s", details, err, recs[0].ID)
		}
		if p, err := reg.OpenProof(ctx, recs[0]); err != nil || p.IP != "192.0.2.1" {
			t.Fatalf("proof before erasure: %+v, %v", p, err)
		}

		if _, err := v.Erase(ctx, staff, gone); err != nil {
			t.Fatalf("vault Erase: %v", err)
		}
		var n int
		if err := db.Read().QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM consent_records WHERE subject_id = $1)
			+ (SELECT COUNT(*) FROM consent_state WHERE subject_id = $1)`, gone).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d consent rows outlive the erasure", n)
		}
		_, err = reg.Check(ctx, gone, "newsletter")
		wantCode(t, err, errcode.NotFound)
		_, err = reg.History(ctx, gone)
		wantCode(t, err, errcode.NotFound)
		if _, err := v.OpenAuditDetails(ctx, event); err == nil {
			t.Error("the consent event's details still open after the erasure")
		}
		if _, err := reg.OpenProof(ctx, recs[0]); err == nil {
			t.Error("the proof still opens after the erasure")
		}

		if d, err := reg.Check(ctx, kept, "newsletter"); err != nil || !d.Allowed {
			t.Fatalf("the other person's consent after the erasure: %+v, %v", d, err)
		}
		if p, err := reg.OpenProof(ctx, recs[1]); err != nil || p.UserAgent != "Test/1.0" {
			t.Fatalf("the other person's proof after the erasure: %+v, %v", p, err)
		}
	})
}

// consentEvent returns the consent.grant audit event about target.
func consentEvent(t *testing.T, db *sqlstore.DB, target string) audit.Event {
	t.Helper()
	events, err := audit.ListByTarget(t.Context(), db.Read(), target, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Action == "consent.grant" {
			return e
		}
	}
	t.Fatalf("no consent.grant event among %d about the subject", len(events))
	return audit.Event{}
}
