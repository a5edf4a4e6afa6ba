package dsr_test

import (
	"slices"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the Berlin calendar must not depend on the machine's zoneinfo

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// TestSubmitIntake covers how Submit takes requests in, on one database
// per engine.
func TestSubmitIntake(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		t.Parallel()
		f := newFixture(t, e, nil)
		t.Run("worked examples", func(t *testing.T) { testSubmitWorkedExamples(t, f) })
		t.Run("back-dated", func(t *testing.T) { testSubmitBackdated(t, f) })
		t.Run("initial state", func(t *testing.T) { testSubmitInitialState(t, f) })
	})
}

// testSubmitWorkedExamples takes the table of section 1.0 through Submit
// and Extend with an injected clock (UTC, no holidays, as the table says).
func testSubmitWorkedExamples(t *testing.T, f *fixture) {
	tests := []struct {
		received string
		target   string // one month, no roll-forward
		legal    string // rolled forward past the weekend
		extended string // receipt + 3 months
	}{
		{"2025-03-05T10:00:00Z", "2025-04-05", "2025-04-07", "2025-06-05"},
		{"2025-01-31T10:00:00Z", "2025-02-28", "2025-02-28", "2025-04-30"},
		{"2024-01-31T10:00:00Z", "2024-02-29", "2024-02-29", "2024-04-30"},
	}
	for _, tt := range tests {
		t.Run(tt.received, func(t *testing.T) {
			received := at(t, tt.received)
			f.clock.set(received)
			sub := f.newSubject(t)
			s := f.mustSubmit(t, hostApp, apiRequest(sub, dsr.Access, dsr.Details{}))
			if !s.ReceivedAt.Equal(received) {
				t.Errorf("ReceivedAt = %v, want %v", s.ReceivedAt, received)
			}
			if want := endOf(t, tt.target); !s.TargetDueAt.Equal(want) {
				t.Errorf("TargetDueAt = %v, want %v", s.TargetDueAt, want)
			}
			if want := endOf(t, tt.legal); !s.LegalDueAt.Equal(want) {
				t.Errorf("LegalDueAt = %v, want %v", s.LegalDueAt, want)
			}
			if got := f.mustGet(t, s.ID); !got.LegalDueAt.Equal(s.LegalDueAt) || !got.TargetDueAt.Equal(s.TargetDueAt) {
				t.Errorf("stored deadlines %v/%v differ from returned %v/%v", got.LegalDueAt, got.TargetDueAt, s.LegalDueAt, s.TargetDueAt)
			}

			f.clock.set(received.Add(24 * time.Hour))
			ext, err := f.svc.Extend(t.Context(), dpo, s.ID, dsr.Reason{Code: dsr.Complexity})
			if err != nil {
				t.Fatalf("Extend: %v", err)
			}
			want := endOf(t, tt.extended)
			if !ext.LegalDueAt.Equal(want) || !ext.TargetDueAt.Equal(want) {
				t.Errorf("extended deadlines = %v/%v, want %v", ext.LegalDueAt, ext.TargetDueAt, want)
			}
		})
	}
}

// testSubmitBackdated is R-01: a request staff enter from a letter gets
// its deadlines from when it reached the organisation, not from when it
// was typed in.
func testSubmitBackdated(t *testing.T, f *fixture) {
	now := at(t, "2025-03-20T15:00:00Z")
	f.clock.set(now)
	tests := []struct {
		name     string
		actor    dsr.Actor
		channel  dsr.Channel
		received string
		legal    string
		target   string
	}{
		{"letter", dpo, dsr.StaffLetter, "2025-03-05T08:00:00Z", "2025-04-07", "2025-04-05"},
		{"phone, already late when entered", support, dsr.StaffPhone, "2025-01-31T16:00:00Z", "2025-02-28", "2025-02-28"},
		{"host application relaying an earlier receipt", hostApp, dsr.API, "2025-03-19T23:00:00Z", "2025-04-21", "2025-04-19"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := apiRequest(f.newSubject(t), dsr.Erasure, dsr.Details{All: true})
			n.Channel, n.ReceivedAt = tt.channel, at(t, tt.received)
			s := f.mustSubmit(t, tt.actor, n)
			if !s.ReceivedAt.Equal(at(t, tt.received)) || !s.CreatedAt.Equal(now) {
				t.Errorf("ReceivedAt, CreatedAt = %v, %v, want %s, %v", s.ReceivedAt, s.CreatedAt, tt.received, now)
			}
			if want := endOf(t, tt.legal); !s.LegalDueAt.Equal(want) {
				t.Errorf("LegalDueAt = %v, want %v", s.LegalDueAt, want)
			}
			if want := endOf(t, tt.target); !s.TargetDueAt.Equal(want) {
				t.Errorf("TargetDueAt = %v, want %v", s.TargetDueAt, want)
			}
			if got := f.mustGet(t, s.ID); !got.ReceivedAt.Equal(s.ReceivedAt) {
				t.Errorf("stored ReceivedAt = %v, want %v", got.ReceivedAt, s.ReceivedAt)
			}
		})
	}
}

// testSubmitInitialState: a request with a known subject starts in
// received; one whose subject is not known yet starts in awaiting_identity.
func testSubmitInitialState(t *testing.T, f *fixture) {
	known := f.mustSubmit(t, dpo, dsr.NewRequest{SubjectID: f.newSubject(t), Kind: dsr.Access, Channel: dsr.StaffEmail})
	if known.State != dsr.Received || !known.AwaitingIdentitySince.IsZero() {
		t.Errorf("known subject: state %s since %v, want received", known.State, known.AwaitingIdentitySince)
	}
	for _, n := range []dsr.NewRequest{
		{Kind: dsr.Erasure, Channel: dsr.Form, Details: dsr.Details{All: true}},
		{Kind: dsr.Access, Channel: dsr.StaffLetter},
	} {
		a := public
		if n.Channel == dsr.StaffLetter {
			a = dpo
		}
		s := f.mustSubmit(t, a, n)
		if s.State != dsr.AwaitingIdentity || !s.AwaitingIdentitySince.Equal(f.clock.Now()) || s.SubjectID != "" {
			t.Errorf("%s without subject: state %s since %v subject %q, want awaiting_identity since now", n.Channel, s.State, s.AwaitingIdentitySince, s.SubjectID)
		}
	}
}

// TestSubmitCalendarAndTargetDays checks that the configured calendar
// (Berlin, German holidays) and a fixed-days internal target reach the
// stored deadlines.
func TestSubmitCalendarAndTargetDays(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		t.Parallel()
		berlin, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			t.Fatal(err)
		}
		f := newFixture(t, e, func(o *dsr.Options) {
			o.Calendar = dsr.NewCalendar(berlin, dsr.GermanHolidays(2026)...)
			o.TargetDays = 28
		})
		received := at(t, "2026-03-03T09:00:00+01:00")
		f.clock.set(received)
		s := f.mustSubmit(t, hostApp, apiRequest(f.newSubject(t), dsr.Export, dsr.Details{}))
		// One month ends on Good Friday 3 April; Easter Monday follows.
		if want := at(t, "2026-04-07T23:59:59.999999+02:00"); !s.LegalDueAt.Equal(want) {
			t.Errorf("LegalDueAt = %v, want %v", s.LegalDueAt, want)
		}
		// 28 days after 3 March, at the end of that day in Berlin (summer time).
		if want := at(t, "2026-03-31T23:59:59.999999+02:00"); !s.TargetDueAt.Equal(want) {
			t.Errorf("TargetDueAt = %v, want %v", s.TargetDueAt, want)
		}
		ext, err := f.svc.Extend(t.Context(), dpo, s.ID, dsr.Reason{Code: dsr.NumberOfRequests})
		if err != nil {
			t.Fatalf("Extend: %v", err)
		}
		if want := at(t, "2026-06-03T23:59:59.999999+02:00"); !ext.LegalDueAt.Equal(want) {
			t.Errorf("extended LegalDueAt = %v, want %v", ext.LegalDueAt, want)
		}
		// 3 × 28 days.
		if want := at(t, "2026-05-26T23:59:59.999999+02:00"); !ext.TargetDueAt.Equal(want) {
			t.Errorf("extended TargetDueAt = %v, want %v", ext.TargetDueAt, want)
		}
	})
}

// TestSubmitRules covers what Submit refuses, replays and merges, on one
// database per engine; each part works on subjects of its own.
func TestSubmitRules(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		t.Parallel()
		f := newFixture(t, e, nil)
		t.Run("refused", func(t *testing.T) { testSubmitRefused(t, f) })
		t.Run("idempotent", func(t *testing.T) { testSubmitIdempotent(t, f) })
		t.Run("merges duplicates", func(t *testing.T) { testSubmitMergesDuplicates(t, f) })
		t.Run("merges concurrent duplicates", func(t *testing.T) { testSubmitMergeConcurrent(t, f) })
	})
}

// testSubmitRefused checks input that Submit refuses: each gets its code,
// writes no request, event or key, and is audited once.
func testSubmitRefused(t *testing.T, f *fixture) {
	now := f.clock.Now()
	sub := f.newSubject(t)
	tests := []struct {
		name  string
		actor dsr.Actor
		n     dsr.NewRequest
		want  errcode.Code
	}{
		{"received in the future by a second", dpo,
			dsr.NewRequest{SubjectID: sub, Kind: dsr.Access, Channel: dsr.StaffEmail, ReceivedAt: now.Add(time.Second)}, errcode.Invalid},
		{"received in the future by a microsecond", hostApp,
			dsr.NewRequest{SubjectID: sub, Kind: dsr.Access, Channel: dsr.API, ReceivedAt: now.Add(time.Microsecond)}, errcode.Invalid},
		{"portal request back-dated", person(sub),
			dsr.NewRequest{SubjectID: sub, Kind: dsr.Access, Channel: dsr.Portal, ReceivedAt: now.Add(-time.Hour)}, errcode.Invalid},
		{"staff channel without staff", hostApp,
			dsr.NewRequest{SubjectID: sub, Kind: dsr.Access, Channel: dsr.StaffLetter}, errcode.Forbidden},
		{"portal request for someone else", person(f.newSubject(t)),
			dsr.NewRequest{SubjectID: sub, Kind: dsr.Access, Channel: dsr.Portal}, errcode.Forbidden},
		{"api request by a person", person(sub),
			dsr.NewRequest{SubjectID: sub, Kind: dsr.Access, Channel: dsr.API}, errcode.Forbidden},
		{"api request without a subject", hostApp,
			dsr.NewRequest{Kind: dsr.Access, Channel: dsr.API}, errcode.Invalid},
		{"form request naming a subject", public,
			dsr.NewRequest{SubjectID: sub, Kind: dsr.Access, Channel: dsr.Form}, errcode.Invalid},
		{"unknown subject", hostApp,
			apiRequest("sub_aaaaaaaaaaaaaaaaaaaaaaaaaa", dsr.Access, dsr.Details{}), errcode.NotFound},
		{"malformed subject id", hostApp, apiRequest("bob", dsr.Access, dsr.Details{}), errcode.NotFound},
		{"unknown kind", hostApp, apiRequest(sub, "delete-everything", dsr.Details{}), errcode.Invalid},
		{"unknown channel", hostApp, dsr.NewRequest{SubjectID: sub, Kind: dsr.Access, Channel: "fax"}, errcode.Invalid},
		{"erasure of an unknown category", hostApp,
			apiRequest(sub, dsr.Erasure, dsr.Details{Categories: []string{"billing", "dreams"}}), errcode.Invalid},
		{"erasure naming nothing", hostApp, apiRequest(sub, dsr.Erasure, dsr.Details{}), errcode.Invalid},
		{"erasure of all and some", hostApp,
			apiRequest(sub, dsr.Erasure, dsr.Details{All: true, Categories: []string{"billing"}}), errcode.Invalid},
		{"objection to an unknown purpose", hostApp,
			apiRequest(sub, dsr.Objection, dsr.Details{Purposes: []string{"mind-reading"}}), errcode.Invalid},
		{"objection naming no purpose", hostApp, apiRequest(sub, dsr.Objection, dsr.Details{}), errcode.Invalid},
		{"rectification naming no field", hostApp, apiRequest(sub, dsr.Rectification, dsr.Details{}), errcode.Invalid},
		{"categories on an access request", hostApp,
			apiRequest(sub, dsr.Access, dsr.Details{Categories: []string{"billing"}}), errcode.Invalid},
		{"personal details before identity", public,
			dsr.NewRequest{Kind: dsr.Restriction, Channel: dsr.Form, Details: dsr.Details{Message: "please stop"}}, errcode.Invalid},
		{"bad idempotency key", hostApp,
			dsr.NewRequest{SubjectID: sub, Kind: dsr.Access, Channel: dsr.API, IdempotencyKey: "two words"}, errcode.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requests := f.count(t, "SELECT COUNT(*) FROM requests")
			events := f.count(t, "SELECT COUNT(*) FROM request_events")
			keys := f.count(t, "SELECT COUNT(*) FROM request_idempotency")
			head := f.count(t, "SELECT seq FROM audit_head")

			_, err := f.svc.Submit(t.Context(), tt.actor, tt.n)
			wantCode(t, err, tt.want)

			if got := f.count(t, "SELECT COUNT(*) FROM requests"); got != requests {
				t.Errorf("requests: %d, want %d", got, requests)
			}
			if got := f.count(t, "SELECT COUNT(*) FROM request_events"); got != events {
				t.Errorf("request events: %d, want %d", got, events)
			}
			if got := f.count(t, "SELECT COUNT(*) FROM request_idempotency"); got != keys {
				t.Errorf("idempotency keys: %d, want %d", got, keys)
			}
			if got := f.count(t, "SELECT seq FROM audit_head"); got != head+1 {
				t.Fatalf("refusal wrote %d audit events, want 1", got-head)
			}
			var actor, action, result string
			if err := f.db.Read().QueryRowContext(t.Context(), "SELECT actor, action, result FROM audit_events WHERE seq = $1", head+1).
				Scan(&actor, &action, &result); err != nil {
				t.Fatal(err)
			}
			if actor != tt.actor.Name || action != "dsr.request.submit" || result != string(tt.want) {
				t.Errorf("audit event = %s %s %s, want %s dsr.request.submit %s", actor, action, result, tt.actor.Name, tt.want)
			}
		})
	}
}

// testSubmitIdempotent: the same key from the same caller gives one
// request however many times and however concurrently it is sent.
func testSubmitIdempotent(t *testing.T, f *fixture) {
	sub := f.newSubject(t)
	n := apiRequest(sub, dsr.Erasure, dsr.Details{Categories: []string{"usage"}})
	n.IdempotencyKey = "3f6b1a6e-retry-me"

	const callers = 50
	var (
		wg      sync.WaitGroup
		results [callers]dsr.Submitted
		errs    [callers]error
	)
	for i := range callers {
		wg.Go(func() { results[i], errs[i] = f.svc.Submit(t.Context(), hostApp, n) })
	}
	wg.Wait()
	replays := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if results[i].ID != results[0].ID {
			t.Fatalf("caller %d got request %s, caller 0 got %s", i, results[i].ID, results[0].ID)
		}
		if results[i].Merged {
			t.Errorf("caller %d: Merged set for the request it created", i)
		}
		if results[i].Replayed {
			replays++
		}
	}
	if replays != callers-1 {
		t.Errorf("%d callers were told of a replay, want %d", replays, callers-1)
	}
	if got := f.count(t, "SELECT COUNT(*) FROM requests WHERE subject_id = $1", sub); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
	if got := f.count(t, "SELECT COUNT(*) FROM request_events WHERE request_id = $1", results[0].ID); got != 1 {
		t.Errorf("%d request events, want 1 (replays write nothing)", got)
	}

	t.Run("same key, different request", func(t *testing.T) {
		changed := n
		changed.Details = dsr.Details{All: true}
		before := f.footprint(t, results[0].Request)
		_, err := f.svc.Submit(t.Context(), hostApp, changed)
		f.checkRefused(t, results[0].Request, before, err, errcode.Conflict)
	})

	t.Run("same key from another caller is another submission", func(t *testing.T) {
		s := f.mustSubmit(t, other, n)
		if s.Replayed || !s.Merged || s.ID != results[0].ID {
			t.Fatalf("got %s replayed=%v merged=%v, want a merge into %s", s.ID, s.Replayed, s.Merged, results[0].ID)
		}
		again := f.mustSubmit(t, other, n)
		if !again.Replayed || !again.Merged || again.ID != s.ID {
			t.Errorf("replay of a merge: %s replayed=%v merged=%v", again.ID, again.Replayed, again.Merged)
		}
		if got := f.count(t, "SELECT COUNT(*) FROM request_events WHERE request_id = $1 AND kind = 'merge'", s.ID); got != 1 {
			t.Errorf("%d merge events, want 1", got)
		}
	})

	t.Run("a key is enforced by the database", func(t *testing.T) {
		err := f.db.Write(t.Context(), func(tx *sqlstore.Tx) error {
			_, err := tx.ExecContext(t.Context(), `INSERT INTO request_idempotency
				(actor, idempotency_key, request_id, fingerprint, merged, created_at)
				VALUES ($1, $2, $3, 'x', 0, 0)`, hostApp.Name, n.IdempotencyKey, results[0].ID)
			return err
		})
		if !sqlstore.IsUniqueViolation(err) {
			t.Errorf("second row for the same key: %v, want a unique violation", err)
		}
	})
}

// testSubmitMergesDuplicates: a second open request of the same person and
// kind is merged into the first; a closed one is not.
func testSubmitMergesDuplicates(t *testing.T, f *fixture) {
	sub := f.newSubject(t)
	first := f.mustSubmit(t, person(sub), dsr.NewRequest{SubjectID: sub, Kind: dsr.Erasure, Channel: dsr.Portal,
		Details: dsr.Details{Categories: []string{"billing"}}})
	f.clock.advance(3 * 24 * time.Hour)

	before := f.footprint(t, first.Request)
	second := f.mustSubmit(t, dpo, dsr.NewRequest{SubjectID: sub, Kind: dsr.Erasure, Channel: dsr.StaffEmail,
		Details: dsr.Details{Categories: []string{"usage", "billing"}}})
	if !second.Merged || second.ID != first.ID {
		t.Fatalf("second submission: %s merged=%v, want merged into %s", second.ID, second.Merged, first.ID)
	}
	if want := []string{"billing", "usage"}; !slices.Equal(second.Details.Categories, want) {
		t.Errorf("merged categories %v, want %v", second.Details.Categories, want)
	}
	if !second.LegalDueAt.Equal(first.LegalDueAt) || !second.ReceivedAt.Equal(first.ReceivedAt) {
		t.Errorf("merge moved the deadline: %v → %v", first.LegalDueAt, second.LegalDueAt)
	}
	f.checkChanged(t, second.Request, before, "dsr.request.merge")

	all := f.mustSubmit(t, hostApp, apiRequest(sub, dsr.Erasure, dsr.Details{All: true}))
	if !all.Merged || !all.Details.All || len(all.Details.Categories) != 0 {
		t.Errorf("merging everything: %+v", all.Details)
	}
	if got := f.mustGet(t, first.ID); !got.Details.All {
		t.Errorf("stored details after merge: %+v", got.Details)
	}

	access := f.mustSubmit(t, hostApp, apiRequest(sub, dsr.Access, dsr.Details{}))
	if access.Merged || access.ID == first.ID {
		t.Errorf("a request of another kind was merged")
	}

	f.mustTransition(t, first.ID, dsr.Withdrawn, dsr.Reason{Code: dsr.WithdrawnBySubject})
	again := f.mustSubmit(t, hostApp, apiRequest(sub, dsr.Erasure, dsr.Details{All: true}))
	if again.Merged || again.ID == first.ID {
		t.Errorf("a request was merged into a withdrawn one")
	}
	if got := f.count(t, "SELECT COUNT(*) FROM requests WHERE subject_id = $1 AND kind = 'erasure'", sub); got != 2 {
		t.Errorf("%d erasure requests, want 2", got)
	}

	t.Run("one open request per person and kind is enforced by the database", func(t *testing.T) {
		insert := func(id string, closed any) error {
			return f.db.Write(t.Context(), func(tx *sqlstore.Tx) error {
				_, err := tx.ExecContext(t.Context(), `INSERT INTO requests (id, subject_id, kind, channel, details,
					state, received_at, legal_due_at, target_due_at, version, created_by, created_at, updated_at, closed_at)
					VALUES ($1, $2, 'erasure', 'api', '{}', $3, 0, 0, 0, 1, 'staff:x', 0, 0, $4)`,
					id, sub, map[bool]string{true: "completed", false: "received"}[closed != nil], closed)
				return err
			})
		}
		if err := insert("req_closedduplicateaaaaaaaaa", int64(1)); err != nil {
			t.Errorf("a second closed request was refused: %v", err)
		}
		if err := insert("req_openduplicateaaaaaaaaaaa", nil); !sqlstore.IsUniqueViolation(err) {
			t.Errorf("a second open request: %v, want a unique violation", err)
		}
	})
}

// testSubmitMergeConcurrent: concurrent duplicates without idempotency
// keys still end as one request with one merge event per extra
// submission, because the database keeps one open request per person and
// kind.
func testSubmitMergeConcurrent(t *testing.T, f *fixture) {
	sub := f.newSubject(t)
	const callers = 10
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		ids    = map[string]int{}
		merged int
	)
	start := make(chan struct{}) // let every caller plan before any writes
	for range callers {
		wg.Go(func() {
			<-start
			s, err := f.svc.Submit(t.Context(), person(sub), dsr.NewRequest{SubjectID: sub, Kind: dsr.Access, Channel: dsr.Portal})
			if err != nil {
				t.Errorf("Submit: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			ids[s.ID]++
			if s.Merged {
				merged++
			}
		})
	}
	close(start)
	wg.Wait()
	if len(ids) != 1 || merged != callers-1 {
		t.Fatalf("got requests %v with %d merges, want one request and %d merges", ids, merged, callers-1)
	}
	for id := range ids {
		if got := f.count(t, "SELECT COUNT(*) FROM request_events WHERE request_id = $1", id); got != callers {
			t.Errorf("%d events, want %d", got, callers)
		}
		if got := f.mustGet(t, id); got.Version != callers {
			t.Errorf("version %d, want %d", got.Version, callers)
		}
	}
}
