package dsr_test

import (
	"slices"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// queue builds requests received at different times (so with different
// targets) in different states, relative to now = 2025-06-16 12:00 UTC:
//
//	name       received     target        state
//	late       2025-04-10   2025-05-10    in_progress   (past target and legal)
//	targetOnly 2025-05-15   2025-06-15    received      (past target, legal 06-16 not yet)
//	soon       2025-05-20   2025-06-20    awaiting_identity
//	week       2025-05-23   2025-06-23    received      (exactly 7 days is not "soon")
//	later      2025-06-10   2025-07-10    received
//	done       2025-04-01   2025-05-01    completed
func queue(t *testing.T, f *fixture) map[string]dsr.Request {
	t.Helper()
	now := at(t, "2025-06-16T12:00:00Z")
	f.clock.set(now)
	out := map[string]dsr.Request{}
	add := func(name, received string, kind dsr.Kind, path ...dsr.State) {
		n := apiRequest(f.newSubject(t), kind, dsr.Details{})
		if kind == dsr.Erasure {
			n.Details.All = true
		}
		n.ReceivedAt = at(t, received)
		r := f.mustSubmit(t, hostApp, n).Request
		for _, st := range path {
			r = f.mustTransition(t, r.ID, st, dsr.Reason{})
		}
		out[name] = r
	}
	add("late", "2025-04-10T09:00:00Z", dsr.Access, dsr.InProgress)
	add("targetOnly", "2025-05-15T09:00:00Z", dsr.Erasure)
	add("soon", "2025-05-20T09:00:00Z", dsr.Export, dsr.AwaitingIdentity)
	add("week", "2025-05-23T12:00:00Z", dsr.Access)
	add("later", "2025-06-10T09:00:00Z", dsr.Erasure)
	add("done", "2025-04-01T09:00:00Z", dsr.Access, dsr.InProgress, dsr.Completed)
	return out
}

// TestQueries covers the readers over one queue of requests per engine.
func TestQueries(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		t.Parallel()
		f := newFixture(t, e, nil)
		q := queue(t, f)
		t.Run("list", func(t *testing.T) { testList(t, f, q) })
		t.Run("unknown ids", func(t *testing.T) { testGetUnknown(t, f) })
		t.Run("counts", func(t *testing.T) { testCounts(t, f) }) // last: it moves the clock
	})
}

func testList(t *testing.T, f *fixture, q map[string]dsr.Request) {
	tests := []struct {
		name   string
		filter dsr.Filter
		want   []string
	}{
		{"everything, soonest target first", dsr.Filter{}, []string{"done", "late", "targetOnly", "soon", "week", "later"}},
		{"open states", dsr.Filter{States: []dsr.State{dsr.Received, dsr.AwaitingIdentity, dsr.InProgress, dsr.AwaitingApproval}},
			[]string{"late", "targetOnly", "soon", "week", "later"}},
		{"received", dsr.Filter{States: []dsr.State{dsr.Received}}, []string{"targetOnly", "week", "later"}},
		{"erasures", dsr.Filter{Kinds: []dsr.Kind{dsr.Erasure}}, []string{"targetOnly", "later"}},
		{"received access", dsr.Filter{States: []dsr.State{dsr.Received}, Kinds: []dsr.Kind{dsr.Access}}, []string{"week"}},
		{"due before 21 June", dsr.Filter{DueBefore: at(t, "2025-06-21T00:00:00Z")}, []string{"done", "late", "targetOnly", "soon"}},
		{"one person", dsr.Filter{SubjectID: q["soon"].SubjectID}, []string{"soon"}},
		{"limit", dsr.Filter{Limit: 2}, []string{"done", "late"}},
		{"after a position", dsr.Filter{Limit: 2, After: &dsr.Position{TargetDueAt: q["late"].TargetDueAt, ID: q["late"].ID}},
			[]string{"targetOnly", "soon"}},
		{"after the last", dsr.Filter{After: &dsr.Position{TargetDueAt: q["later"].TargetDueAt, ID: q["later"].ID}}, nil},
		{"nothing", dsr.Filter{States: []dsr.State{dsr.Refused}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.svc.List(t.Context(), tt.filter)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			var gotIDs, wantIDs []string
			for _, r := range got {
				gotIDs = append(gotIDs, r.ID)
			}
			for _, name := range tt.want {
				wantIDs = append(wantIDs, q[name].ID)
			}
			if !slices.Equal(gotIDs, wantIDs) {
				t.Errorf("List = %v, want %v (%v)", gotIDs, wantIDs, tt.want)
			}
		})
	}
	for _, bad := range []dsr.Filter{{States: []dsr.State{"lost"}}, {Kinds: []dsr.Kind{"gossip"}}, {Limit: -1}} {
		if _, err := f.svc.List(t.Context(), bad); errcode.Of(err) != errcode.Invalid {
			t.Errorf("List(%+v) error %v, want invalid", bad, err)
		}
	}
}

func testCounts(t *testing.T, f *fixture) {
	got, err := f.svc.Counts(t.Context())
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	want := dsr.Counts{Open: 5, DueSoon: 1, Overdue: 2, LegallyOverdue: 1}
	if got != want {
		t.Errorf("Counts = %+v, want %+v", got, want)
	}
	// A day later "week" is due soon and "targetOnly" is legally late.
	f.clock.advance(24 * time.Hour)
	got, err = f.svc.Counts(t.Context())
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	want = dsr.Counts{Open: 5, DueSoon: 2, Overdue: 2, LegallyOverdue: 2}
	if got != want {
		t.Errorf("a day later Counts = %+v, want %+v", got, want)
	}
}

func testGetUnknown(t *testing.T, f *fixture) {
	for _, id := range []string{"", "req_", "req_aaaaaaaaaaaaaaaaaaaaaaaaaa", "'; DROP TABLE requests; --"} {
		if _, err := f.svc.Get(t.Context(), id); errcode.Of(err) != errcode.NotFound {
			t.Errorf("Get(%q) error %v, want not found", id, err)
		}
		if _, err := f.svc.Transition(t.Context(), dpo, id, dsr.InProgress, dsr.Reason{}); errcode.Of(err) != errcode.NotFound {
			t.Errorf("Transition(%q) error %v, want not found", id, err)
		}
	}
}
