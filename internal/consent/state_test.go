package consent_test

import (
	"cmp"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// model is the test's own statement of the rules, independent of the
// package: which records each purpose accepts, and what the latest record
// means.
var model = map[string]struct {
	consent     bool // grant and withdraw accepted; allowed only after a grant
	objectable  bool // object accepted; allowed unless objected
	alwaysAllow bool // contract or legal obligation
}{
	"newsletter":       {consent: true, objectable: true},
	"research":         {consent: true},
	"analytics":        {objectable: true},
	"partner-offers":   {objectable: true},
	"service-delivery": {alwaysAllow: true},
}

func modelAllows(purpose string, latest consent.Kind, restricted bool) bool {
	m := model[purpose]
	switch {
	case restricted:
		return false
	case m.consent:
		return latest == consent.Grant
	case m.objectable:
		return latest != consent.Object
	}
	return m.alwaysAllow
}

func modelAccepts(purpose string, k consent.Kind) bool {
	m := model[purpose]
	if k == consent.Object {
		return m.objectable
	}
	return m.consent
}

// TestReplayRebuildsState: after a random sequence of 500 grants,
// withdrawals and objections (some refused) by 8 people at once, replaying
// the records in seq order gives exactly the cached state, every Check
// agrees with the model, and Rebuild restores a damaged cache.
func TestReplayRebuildsState(t *testing.T) {
	const people, opsEach = 8, 63 // 504 operations
	purposes := slices.Sorted(func(yield func(string) bool) {
		for p := range model {
			if !yield(p) {
				return
			}
		}
	})
	kinds := []consent.Kind{consent.Grant, consent.Withdraw, consent.Object}
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		ctx := t.Context()
		subjects := f.newSubjects(t, people)
		// want is the model's latest accepted kind per subject × purpose.
		want := make([]map[string]consent.Kind, people)
		errs := make(chan error, people)
		var wg sync.WaitGroup
		for i, s := range subjects {
			want[i] = map[string]consent.Kind{}
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(i), 42))
				for range opsEach {
					p := purposes[rng.IntN(len(purposes))]
					k := kinds[rng.IntN(len(kinds))]
					req := request(s, k, p)
					if k == consent.Grant {
						req = f.grant(s, p)
					}
					_, err := f.reg.Record(ctx, subjectActor(s), req)
					switch accepted := modelAccepts(p, k); {
					case accepted && err != nil:
						errs <- err
						return
					case !accepted && errcode.Of(err) != errcode.Invalid:
						errs <- errors.New("a " + string(k) + " of " + p + " was not refused as invalid")
						return
					case accepted:
						want[i][p] = k
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		f.restrict(t, subjects[0])

		// Replay the register, oldest first.
		replayed := map[[2]string]stateRow{}
		rows, err := f.db.Read().QueryContext(ctx, "SELECT subject_id, purpose, kind, seq, id FROM consent_records WHERE purpose IS NOT NULL ORDER BY seq")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s, p string
			var r stateRow
			if err := rows.Scan(&s, &p, &r.kind, &r.seq, &r.recordID); err != nil {
				t.Fatal(err)
			}
			replayed[[2]string{s, p}] = r
		}
		rows.Close()
		cached := f.cachedState(t)
		if len(cached) == 0 || !mapsEqual(replayed, cached) {
			t.Fatalf("replayed state (%d) differs from the cache (%d):\n%v\n%v", len(replayed), len(cached), replayed, cached)
		}
		for i, s := range subjects {
			for _, p := range purposes {
				if got := consent.Kind(replayed[[2]string{s, p}].kind); got != want[i][p] {
					t.Errorf("subject %d %s: replayed latest %q, model %q", i, p, got, want[i][p])
				}
				d := f.mustCheck(t, s, p)
				if allowed := modelAllows(p, want[i][p], i == 0); d.Allowed != allowed {
					t.Errorf("subject %d %s (latest %q): Check %+v, model says allowed %v", i, p, want[i][p], d, allowed)
				}
			}
		}

		// Damage the cache, then rebuild it from the records.
		f.exec(t, func(tx *sqlstore.Tx) error {
			if _, err := tx.ExecContext(ctx, "DELETE FROM consent_state WHERE purpose = 'analytics'"); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "UPDATE consent_state SET kind = 'grant', record_seq = 0 WHERE purpose = 'research'")
			return err
		})
		if mapsEqual(f.cachedState(t), cached) {
			t.Fatal("damaging the cache changed nothing")
		}
		n, err := f.reg.Rebuild(ctx, dpo)
		if err != nil {
			t.Fatalf("Rebuild: %v", err)
		}
		if got := f.cachedState(t); n != len(cached) || !mapsEqual(got, cached) {
			t.Fatalf("rebuilt %d states, differing from the state before the damage (%d)", n, len(cached))
		}
		f.checkAudited(t)
	})
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestConcurrentRecordsOnOnePair: 16 goroutines grant and withdraw the same
// subject × purpose at once; the state afterwards is the one the record
// with the highest seq says, in the cache and in Check.
func TestConcurrentRecordsOnOnePair(t *testing.T) {
	const workers, each = 16, 6
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		s := f.newSubject(t)
		errs := make(chan error, workers*each)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					req := request(s, consent.Withdraw, "newsletter")
					if (w+i)%2 == 0 {
						req = f.grant(s, "newsletter")
					}
					if _, err := f.reg.Record(t.Context(), subjectActor(s), req); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		history, err := f.reg.History(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		if len(history) != workers*each {
			t.Fatalf("%d records, want %d", len(history), workers*each)
		}
		last := history[len(history)-1] // History is in seq order
		d := f.mustCheck(t, s, "newsletter")
		if d.Allowed != (last.Kind == consent.Grant) || d.RecordID != last.ID {
			t.Fatalf("Check = %+v; the last record is %s %s", d, last.Kind, last.ID)
		}
		if st := f.cachedState(t)[[2]string{s, "newsletter"}]; st.seq != last.Seq {
			t.Fatalf("cached state at seq %d, last record at %d", st.seq, last.Seq)
		}
		f.checkAudited(t)
	})
}

// TestSubjectsAllowed: out of 2,000 people, the stream yields exactly those
// Check allows, once each, in id order, for every kind of purpose.
func TestSubjectsAllowed(t *testing.T) {
	const n = 2000
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		ctx := t.Context()
		subjects := f.newSubjects(t, n)
		// One job holds one person's records, in order.
		type job struct {
			s    string
			reqs []consent.Request
		}
		jobs := make(chan job)
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			firstErr error
		)
		for range 16 {
			wg.Go(func() {
				for j := range jobs {
					for _, req := range j.reqs {
						if _, err := f.reg.Record(ctx, subjectActor(j.s), req); err != nil {
							mu.Lock()
							firstErr = cmp.Or(firstErr, err)
							mu.Unlock()
						}
					}
				}
			})
		}
		var restricted []string
		for i, s := range subjects {
			j := job{s: s}
			if i%8 == 0 {
				j.reqs = append(j.reqs, f.grant(s, "newsletter"))
			}
			if i%24 == 0 {
				j.reqs = append(j.reqs, request(s, consent.Withdraw, "newsletter"))
			}
			if i%17 == 0 {
				j.reqs = append(j.reqs, request(s, consent.Object, "analytics"))
			}
			if i%11 == 0 {
				restricted = append(restricted, s)
			}
			if len(j.reqs) > 0 {
				jobs <- j
			}
		}
		close(jobs)
		wg.Wait()
		if firstErr != nil {
			t.Fatal(firstErr)
		}
		f.restrict(t, restricted...)

		want := map[string][]string{}
		for i, s := range subjects {
			r := i%11 == 0
			if i%8 == 0 && i%24 != 0 && !r {
				want["newsletter"] = append(want["newsletter"], s)
			}
			if i%17 != 0 && !r {
				want["analytics"] = append(want["analytics"], s)
			}
			if !r {
				want["service-delivery"] = append(want["service-delivery"], s)
			}
			want["storage"] = append(want["storage"], s) // allowed under restriction
		}
		for p, w := range want {
			slices.Sort(w)
			t.Run(p, func(t *testing.T) {
				var got []string
				err := f.reg.SubjectsAllowed(ctx, p, func(id string) error {
					got = append(got, id)
					return nil
				})
				if err != nil {
					t.Fatalf("SubjectsAllowed: %v", err)
				}
				if !slices.Equal(got, w) {
					t.Fatalf("streamed %d ids, want %d", len(got), len(w))
				}
			})
		}

		// The stream agrees with CheckMany, which agrees with Check.
		var pairs []consent.Pair
		for _, s := range subjects {
			for p := range want {
				pairs = append(pairs, consent.Pair{SubjectID: s, Purpose: p})
			}
		}
		ds, err := f.reg.CheckMany(ctx, pairs)
		if err != nil {
			t.Fatalf("CheckMany: %v", err)
		}
		for i, pair := range pairs {
			_, inStream := slices.BinarySearch(want[pair.Purpose], pair.SubjectID)
			if ds[i].Allowed != inStream {
				t.Fatalf("CheckMany(%s, %s) = %+v, stream says %v", pair.SubjectID, pair.Purpose, ds[i], inStream)
			}
			if i%97 == 0 {
				if d := f.mustCheck(t, pair.SubjectID, pair.Purpose); !sameDecision(d, ds[i]) {
					t.Fatalf("Check(%s, %s) = %+v, CheckMany %+v", pair.SubjectID, pair.Purpose, d, ds[i])
				}
			}
		}

		t.Run("an error from fn stops the stream", func(t *testing.T) {
			stop := errors.New("stop")
			calls := 0
			err := f.reg.SubjectsAllowed(ctx, "service-delivery", func(string) error {
				calls++
				if calls == 5 {
					return stop
				}
				return nil
			})
			if !errors.Is(err, stop) || calls != 5 {
				t.Fatalf("err %v after %d calls, want stop after 5", err, calls)
			}
		})
		t.Run("unknown purpose", func(t *testing.T) {
			err := f.reg.SubjectsAllowed(ctx, "mind-reading", func(string) error { return nil })
			wantCode(t, err, errcode.NotFound)
		})
	})
}

func sameDecision(a, b consent.Decision) bool {
	if a.Allowed != b.Allowed || a.Basis != b.Basis || a.Reason != b.Reason || a.RecordID != b.RecordID {
		return false
	}
	if (a.Since == nil) != (b.Since == nil) {
		return false
	}
	return a.Since == nil || a.Since.Equal(*b.Since)
}

func TestCheckManyAnswersEveryPair(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		s := f.newSubjects(t, 3)
		f.mustRecord(t, subjectActor(s[0]), f.grant(s[0], "newsletter"))
		f.mustRecord(t, subjectActor(s[1]), request(s[1], consent.Object, "analytics"))
		pairs := []consent.Pair{
			{s[0], "newsletter"}, {s[1], "newsletter"}, {s[1], "analytics"}, {s[2], "analytics"},
			{newSubjectID(), "newsletter"}, {s[0], "mind-reading"}, {"Robert'); DROP TABLE subjects;--", "newsletter"},
			{s[0], "newsletter"},
		}
		ds, err := f.reg.CheckMany(t.Context(), pairs)
		if err != nil {
			t.Fatalf("CheckMany: %v", err)
		}
		want := []consent.Reason{consent.ReasonGranted, consent.ReasonNoConsent, consent.ReasonRestricted, consent.ReasonLegalBasis,
			consent.ReasonUnknownSubject, consent.ReasonUnknownPurpose, consent.ReasonUnknownSubject, consent.ReasonGranted}
		if len(ds) != len(pairs) {
			t.Fatalf("%d decisions for %d pairs", len(ds), len(pairs))
		}
		for i, d := range ds {
			if d.Reason != want[i] {
				t.Errorf("pair %d %v: reason %s, want %s", i, pairs[i], d.Reason, want[i])
			}
			if d.Allowed != (want[i] == consent.ReasonGranted || want[i] == consent.ReasonLegalBasis) {
				t.Errorf("pair %d: allowed %v for reason %s", i, d.Allowed, d.Reason)
			}
		}
		_, err = f.reg.CheckMany(t.Context(), make([]consent.Pair, consent.MaxCheckPairs+1))
		wantCode(t, err, errcode.Invalid)
	})
}

func TestCheckUnknown(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		s := f.newSubject(t)
		for _, tc := range []struct{ name, subject, purpose string }{
			{"unknown subject", newSubjectID(), "newsletter"},
			{"malformed subject", "../etc", "newsletter"},
			{"unknown purpose", s, "mind-reading"},
			{"malformed purpose", s, "Mind Reading"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.reg.Check(t.Context(), tc.subject, tc.purpose)
				wantCode(t, err, errcode.NotFound)
			})
		}
	})
}

// TestStateShowsEveryPurpose: the privacy-choices view lists every purpose
// with its decision and the record behind it.
func TestStateShowsEveryPurpose(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		s := f.newSubject(t)
		g := f.mustRecord(t, subjectActor(s), f.grant(s, "newsletter"))
		o := f.mustRecord(t, subjectActor(s), request(s, consent.Object, "analytics"))
		states, err := f.reg.State(t.Context(), s)
		if err != nil {
			t.Fatalf("State: %v", err)
		}
		all, err := f.reg.Purposes(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(states) != len(all) {
			t.Fatalf("%d states for %d purposes", len(states), len(all))
		}
		for _, st := range states {
			d := f.mustCheck(t, s, st.Purpose.Slug)
			if !sameDecision(d, st.Decision) {
				t.Errorf("%s: State %+v, Check %+v", st.Purpose.Slug, st.Decision, d)
			}
			switch st.Purpose.Slug {
			case "newsletter":
				if st.Kind != consent.Grant || st.Decision.RecordID != g.ID || st.Purpose.Names["de"] == "" {
					t.Errorf("newsletter state %+v", st)
				}
			case "analytics":
				if st.Kind != consent.Object || st.Decision.RecordID != o.ID {
					t.Errorf("analytics state %+v", st)
				}
			case "research":
				if st.Kind != "" || st.Decision.Allowed {
					t.Errorf("research state %+v: nothing granted, so not allowed", st)
				}
			}
		}
		_, err = f.reg.State(t.Context(), newSubjectID())
		wantCode(t, err, errcode.NotFound)
	})
}
