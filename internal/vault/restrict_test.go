package vault_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

// TestSetRestriction restricts and lifts on both engines: reads for other
// purposes are refused while restricted, the subject-change hook hears of
// each change, lifting calls Notify with the person's e-mail inside the
// transaction (and a failing Notify leaves the subject restricted), a
// subject without e-mail needs notified_by, and each outcome is audited.
func TestSetRestriction(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		en := newVault(t, e)
		ctx := t.Context()
		var mu sync.Mutex
		var changed []string
		en.v.OnSubjectChange(func(id string) { mu.Lock(); changed = append(changed, id); mu.Unlock() })
		a := vault.Actor{Name: "apikey:ak_test", Purpose: "service-delivery"}
		s := mustCreate(t, en.v, vault.NewSubject{Email: "rita@example.org"})
		plain := mustCreate(t, en.v, vault.NewSubject{ExternalID: "x-1"})

		res, err := en.v.SetRestriction(ctx, a, s.ID, vault.Restriction{Restricted: true, Reason: "accuracy contested"})
		if err != nil || !res.Changed || !res.Restricted {
			t.Fatalf("restrict = %+v, %v", res, err)
		}
		_, err = en.v.Get(ctx, a, s.ID)
		wantCode(t, err, errcode.Restricted)

		// A Notify that fails leaves the subject restricted.
		_, err = en.v.SetRestriction(ctx, a, s.ID, vault.Restriction{Reason: "verified",
			Notify: func(context.Context, *sqlstore.Tx, string) error { return errors.New("outbox down") }})
		if err == nil {
			t.Fatal("lifting with a failing notice succeeded")
		}
		_, err = en.v.Get(ctx, a, s.ID)
		wantCode(t, err, errcode.Restricted)

		var told []string
		res, err = en.v.SetRestriction(ctx, a, s.ID, vault.Restriction{Reason: "verified",
			Notify: func(_ context.Context, tx *sqlstore.Tx, email string) error {
				// Inside the lifting's transaction, the flag is still set.
				var r int
				if err := tx.QueryRowContext(ctx, "SELECT restricted FROM subjects WHERE id = $1", s.ID).Scan(&r); err != nil || r != 1 {
					t.Errorf("Notify ran after the flag was lifted (restricted=%d, %v)", r, err)
				}
				told = append(told, email)
				return nil
			}})
		if err != nil || !res.Changed || res.Restricted || res.Notified != "email" || !slices.Equal(told, []string{"rita@example.org"}) {
			t.Fatalf("lift = %+v, %v; told %v", res, err, told)
		}
		if got := mustGet(t, en.v, s.ID); got.Restricted {
			t.Error("still restricted after the lifting")
		}

		if _, err := en.v.SetRestriction(ctx, a, plain.ID, vault.Restriction{Restricted: true, Reason: "objection"}); err != nil {
			t.Fatal(err)
		}
		_, err = en.v.SetRestriction(ctx, a, plain.ID, vault.Restriction{Reason: "decided",
			Notify: func(context.Context, *sqlstore.Tx, string) error {
				t.Error("Notify called without an e-mail address")
				return nil
			}})
		wantCode(t, err, errcode.Invalid)
		res, err = en.v.SetRestriction(ctx, a, plain.ID, vault.Restriction{Reason: "decided", NotifiedBy: "phone call"})
		if err != nil || res.Notified != "other" {
			t.Fatalf("lift with evidence = %+v, %v", res, err)
		}
		_, err = en.v.SetRestriction(ctx, a, randomSubjectID(t), vault.Restriction{Restricted: true, Reason: "x"})
		wantCode(t, err, errcode.NotFound)

		mu.Lock()
		defer mu.Unlock()
		if want := []string{s.ID, s.ID, plain.ID, plain.ID}; !slices.Equal(changed, want) {
			t.Errorf("subject-change hook heard %v, want %v", changed, want)
		}
		counts := auditCounts(t, en.db)
		// Two restrictions and the refused one of an unknown subject; two
		// liftings and the refused one without evidence.
		if counts["subject.restrict"] != 3 || counts["subject.restriction.lift"] != 3 {
			t.Errorf("audit = %v", counts)
		}
	})
}
