package consent_test

import (
	"sync"
	"testing"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

func cached(o *consent.Options) { o.CacheDecisions = true }

// TestCachedDecisionsNeverOutliveAWrite: with the decision cache on, every
// check made after a write returns sees that write, also while other
// subjects' writes and checks run concurrently; a change made outside the
// register is seen once the register is told (Invalidate), which is the
// contract the vault's erasures and restrictions keep.
func TestCachedDecisionsNeverOutliveAWrite(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e, cached)
		subjects := f.newSubjects(t, 8)

		t.Run("grant and withdraw, checked at once", func(t *testing.T) {
			var wg sync.WaitGroup
			for _, s := range subjects {
				wg.Add(1)
				go func(s string) {
					defer wg.Done()
					for i := 0; i < 15; i++ {
						req := f.grant(s, "newsletter")
						if i%2 == 1 {
							req.Kind, req.NoticeVersion = consent.Withdraw, 0
						}
						if _, err := f.reg.Record(t.Context(), subjectActor(s), req); err != nil {
							t.Errorf("record: %v", err)
							return
						}
						// Two checks: the first may fill the cache, the
						// second is answered from it.
						for j := 0; j < 2; j++ {
							d, err := f.reg.Check(t.Context(), s, "newsletter")
							if err != nil {
								t.Errorf("check: %v", err)
								return
							}
							if want := i%2 == 0; d.Allowed != want {
								t.Errorf("write %d: check %d says allowed=%v, want %v", i, j, d.Allowed, want)
								return
							}
						}
					}
				}(s)
			}
			wg.Wait()
		})

		t.Run("restriction, told through Invalidate", func(t *testing.T) {
			s := subjects[0]
			f.mustRecord(t, subjectActor(s), f.grant(s, "research"))
			if !f.mustCheck(t, s, "research").Allowed {
				t.Fatal("granted purpose not allowed")
			}
			f.restrict(t, s)
			// Not told yet: the cache still answers (this is why every
			// restriction and erasure must call Invalidate).
			if !f.mustCheck(t, s, "research").Allowed {
				t.Fatal("the check read the database: the cache was not used")
			}
			f.reg.Invalidate(s)
			if d := f.mustCheck(t, s, "research"); d.Allowed || d.Reason != consent.ReasonRestricted {
				t.Fatalf("after Invalidate: %+v, want restricted", d)
			}
		})

		t.Run("purpose change clears everything", func(t *testing.T) {
			s := subjects[1]
			p := purpose("reminders", consent.Consent, nil)
			if _, err := f.reg.CreatePurpose(t.Context(), dpo, p); err != nil {
				t.Fatal(err)
			}
			if f.mustCheck(t, s, "reminders").Allowed {
				t.Fatal("consent purpose allowed without consent")
			}
			cur, err := f.reg.Purpose(t.Context(), "reminders")
			if err != nil {
				t.Fatal(err)
			}
			cur.Basis = consent.LegitimateInterest
			if _, err := f.reg.UpdatePurpose(t.Context(), dpo, cur); err != nil {
				t.Fatal(err)
			}
			if d := f.mustCheck(t, s, "reminders"); !d.Allowed {
				t.Fatalf("after the basis changed to legitimate interest: %+v", d)
			}
		})
	})
}
