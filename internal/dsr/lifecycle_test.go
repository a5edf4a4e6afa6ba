package dsr_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// allowed is the lifecycle of issue 5, written out independently of the
// package's table: received → awaiting_identity (when needed) →
// in_progress → awaiting_approval (when a rule requires it) → completed |
// refused | withdrawn, plus the way back to awaiting_identity when doubts
// arise in progress and from approval back to in_progress.
var allowed = map[[2]dsr.State]bool{
	{dsr.Received, dsr.AwaitingIdentity}:   true,
	{dsr.Received, dsr.InProgress}:         true,
	{dsr.Received, dsr.Refused}:            true,
	{dsr.Received, dsr.Withdrawn}:          true,
	{dsr.AwaitingIdentity, dsr.InProgress}: true,
	{dsr.AwaitingIdentity, dsr.Refused}:    true,
	{dsr.AwaitingIdentity, dsr.Withdrawn}:  true,
	{dsr.InProgress, dsr.AwaitingIdentity}: true,
	{dsr.InProgress, dsr.AwaitingApproval}: true,
	{dsr.InProgress, dsr.Completed}:        true,
	{dsr.InProgress, dsr.Refused}:          true,
	{dsr.InProgress, dsr.Withdrawn}:        true,
	{dsr.AwaitingApproval, dsr.InProgress}: true,
	{dsr.AwaitingApproval, dsr.Completed}:  true,
	{dsr.AwaitingApproval, dsr.Refused}:    true,
	{dsr.AwaitingApproval, dsr.Withdrawn}:  true,
}

// states are all the states of issue 5, listed here so that the table
// test does not miss a state the package forgot.
var states = []dsr.State{dsr.Received, dsr.AwaitingIdentity, dsr.InProgress, dsr.AwaitingApproval,
	dsr.Completed, dsr.Refused, dsr.Withdrawn}

// pathTo is how a fresh request (received) reaches each state.
var pathTo = map[dsr.State][]dsr.State{
	dsr.Received:         nil,
	dsr.AwaitingIdentity: {dsr.AwaitingIdentity},
	dsr.InProgress:       {dsr.InProgress},
	dsr.AwaitingApproval: {dsr.InProgress, dsr.AwaitingApproval},
	dsr.Completed:        {dsr.InProgress, dsr.Completed},
	dsr.Refused:          {dsr.Refused},
	dsr.Withdrawn:        {dsr.Withdrawn},
}

// validReason is a reason that may justify entering to, so that a
// transition can only fail because of the lifecycle.
func validReason(to dsr.State) dsr.Reason {
	if to == dsr.Refused {
		return dsr.Reason{Code: dsr.ManifestlyExcessive, Text: "the fourth identical request this week"}
	}
	return dsr.Reason{}
}

// TestTransitionTable tries every pair of states: allowed moves succeed
// and record one event and one audit event; the others are a Conflict,
// change nothing and are audited as refused. A refused move leaves its
// request as it was, so one request per state serves all its refusals.
func TestTransitionTable(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		t.Parallel()
		f := newFixture(t, e, nil)
		// reach returns a new request in state from.
		reach := func(t *testing.T, from dsr.State) dsr.Request {
			t.Helper()
			r := f.open(t, dsr.Access, dsr.Details{})
			for _, step := range pathTo[from] {
				r = f.mustTransition(t, r.ID, step, validReason(step))
			}
			if r.State != from {
				t.Fatalf("set-up reached %s, want %s", r.State, from)
			}
			return r
		}
		for _, from := range states {
			t.Run(string(from), func(t *testing.T) {
				t.Parallel()
				stays := reach(t, from)
				for _, to := range states {
					t.Run("to "+string(to), func(t *testing.T) {
						ok := allowed[[2]dsr.State{from, to}]
						if got := dsr.CanTransition(from, to); got != ok {
							t.Errorf("CanTransition = %v, want %v", got, ok)
						}
						r := stays
						if ok {
							r = reach(t, from)
						}
						before := f.footprint(t, r)
						got, err := f.svc.Transition(t.Context(), dpo, r.ID, to, validReason(to))
						if !ok {
							f.checkRefused(t, r, before, err, errcode.Conflict)
							return
						}
						if err != nil {
							t.Fatalf("Transition: %v", err)
						}
						if got.State != to || got.Version != r.Version+1 {
							t.Errorf("after transition: state %s version %d, want %s %d", got.State, got.Version, to, r.Version+1)
						}
						if stored := f.mustGet(t, r.ID); stored.State != to {
							t.Errorf("stored state %s, want %s", stored.State, to)
						}
						if closed := !got.ClosedAt.IsZero(); closed == to.Open() {
							t.Errorf("ClosedAt = %v for %s", got.ClosedAt, to)
						}
						f.checkChanged(t, got, before, "dsr.request."+string(to))
					})
				}
			})
		}
	})
}

// TestLifecycle covers reasons, who may move a request, and the identity
// wait, on one database per engine; each part works on requests of its own.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		t.Parallel()
		f := newFixture(t, e, nil)
		t.Run("refusal needs reasons", func(t *testing.T) { testRefusalNeedsReasons(t, f) })
		t.Run("withdraw by person", func(t *testing.T) { testWithdrawByPerson(t, f) })
		t.Run("identity wait", func(t *testing.T) { testIdentityWait(t, f) })
	})
}

// testRefusalNeedsReasons, a refusal is unreachable without
// a reason code that applies and a justification in words; a valid one
// stores the DPV IRI and queues the notice to the person.
func testRefusalNeedsReasons(t *testing.T, f *fixture) {
	const why = "Same request sent 40 times in two days from the same address."
	tests := []struct {
		name   string
		kind   dsr.Kind
		reason dsr.Reason
		want   errcode.Code // "" for success
		iri    string
	}{
		{"no code", dsr.Access, dsr.Reason{Text: why}, errcode.Invalid, ""},
		{"no words", dsr.Access, dsr.Reason{Code: dsr.ManifestlyUnfounded}, errcode.Invalid, ""},
		{"nothing", dsr.Access, dsr.Reason{}, errcode.Invalid, ""},
		{"unknown code", dsr.Access, dsr.Reason{Code: "because", Text: why}, errcode.Invalid, ""},
		{"an extension code", dsr.Access, dsr.Reason{Code: dsr.Complexity, Text: why}, errcode.Invalid, ""},
		{"an erasure exception on an access request", dsr.Access, dsr.Reason{Code: dsr.LegalClaims, Text: why}, errcode.Invalid, ""},
		{"manifestly unfounded", dsr.Access, dsr.Reason{Code: dsr.ManifestlyUnfounded, Text: why}, "",
			"https://w3id.org/dpv/legal/eu/gdpr#JustificationA12ManifestlyUnfounded"},
		{"manifestly excessive", dsr.Export, dsr.Reason{Code: dsr.ManifestlyExcessive, Text: why}, "",
			"https://w3id.org/dpv/legal/eu/gdpr#JustificationA12ManifestlyExcessive"},
		{"legal claims hold an erasure", dsr.Erasure, dsr.Reason{Code: dsr.LegalClaims, Text: "Pending lawsuit 4 O 12/26."}, "",
			"https://w3id.org/dpv/legal/eu/gdpr#JustificationA17LegalClaims"},
		{"compelling grounds, no DPV concept", dsr.Objection, dsr.Reason{Code: dsr.CompellingGrounds, Text: "Fraud screening."}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d dsr.Details
			switch tt.kind {
			case dsr.Erasure:
				d.All = true
			case dsr.Objection:
				d.Purposes = []string{"security"}
			}
			r := f.mustTransition(t, f.open(t, tt.kind, d).ID, dsr.InProgress, dsr.Reason{})
			before := f.footprint(t, r)
			got, err := f.svc.Transition(t.Context(), dpo, r.ID, dsr.Refused, tt.reason)
			if tt.want != "" {
				f.checkRefused(t, r, before, err, tt.want)
				return
			}
			if err != nil {
				t.Fatalf("Transition: %v", err)
			}
			f.checkChanged(t, got, before, "dsr.request.refused")
			var code, iri string
			if err := f.db.Read().QueryRowContext(t.Context(), `SELECT reason_code, justification_iri FROM request_events
				WHERE request_id = $1 AND version = $2`, got.ID, got.Version).Scan(&code, &iri); err != nil {
				t.Fatal(err)
			}
			if code != string(tt.reason.Code) || iri != tt.iri {
				t.Errorf("event reason %q %q, want %q %q", code, iri, tt.reason.Code, tt.iri)
			}
			if iri != tt.reason.Code.IRI() {
				t.Errorf("stored IRI %q, IRI() %q", iri, tt.reason.Code.IRI())
			}
			if n := f.count(t, "SELECT COUNT(*) FROM request_notifications WHERE request_id = $1 AND kind = $2 AND event_version = $3",
				got.ID, dsr.NotifyRefusal, got.Version); n != 1 {
				t.Errorf("%d refusal notices queued, want 1", n)
			}
			hist, err := f.svc.History(t.Context(), dpo, got.ID)
			if err != nil {
				t.Fatalf("History: %v", err)
			}
			if last := hist[len(hist)-1]; last.Text != tt.reason.Text || last.Reason != tt.reason.Code {
				t.Errorf("history keeps %q %q, want %q %q", last.Reason, last.Text, tt.reason.Code, tt.reason.Text)
			}
		})
	}

	t.Run("the database refuses a refusal event without reasons", func(t *testing.T) {
		r := f.open(t, dsr.Access, dsr.Details{})
		err := f.db.Write(t.Context(), func(tx *sqlstore.Tx) error {
			_, err := tx.ExecContext(t.Context(), `INSERT INTO request_events (request_id, version, at, actor, kind,
				from_state, to_state, audit_seq) VALUES ($1, 2, 0, 'staff:x', 'transition', 'received', 'refused', -1)`, r.ID)
			return err
		})
		if err == nil {
			t.Fatal("a refusal without reason code and justification was stored")
		}
	})
}

// TestReasonCodes checks the closed set offered to the console.
func TestReasonCodes(t *testing.T) {
	tests := []struct {
		to   dsr.State
		kind dsr.Kind
		want []dsr.ReasonCode
	}{
		{dsr.Refused, dsr.Access, []dsr.ReasonCode{dsr.IdentityNotVerified, dsr.ManifestlyExcessive, dsr.ManifestlyUnfounded}},
		{dsr.Refused, dsr.Erasure, []dsr.ReasonCode{dsr.Archiving, dsr.FreedomOfExpression, dsr.IdentityNotVerified,
			dsr.LegalClaims, dsr.LegalObligation, dsr.ManifestlyExcessive, dsr.ManifestlyUnfounded, dsr.PublicHealth, dsr.PublicInterest}},
		{dsr.Refused, dsr.Objection, []dsr.ReasonCode{dsr.CompellingGrounds, dsr.IdentityNotVerified, dsr.ManifestlyExcessive, dsr.ManifestlyUnfounded}},
		{dsr.AwaitingIdentity, dsr.Access, []dsr.ReasonCode{dsr.IdentityRequired, dsr.InformationRequired}},
		{dsr.Withdrawn, dsr.Export, []dsr.ReasonCode{dsr.WithdrawnBySubject}},
		{dsr.Completed, dsr.Access, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s", tt.to, tt.kind), func(t *testing.T) {
			if got := dsr.ReasonCodes(tt.to, tt.kind); !slices.Equal(got, tt.want) {
				t.Errorf("ReasonCodes = %v, want %v", got, tt.want)
			}
		})
	}
	if got, want := dsr.ExtensionReasons(), []dsr.ReasonCode{dsr.Complexity, dsr.NumberOfRequests}; !slices.Equal(got, want) {
		t.Errorf("ExtensionReasons = %v, want %v", got, want)
	}
}

// testWithdrawByPerson: a person may read and withdraw their own request
// and do nothing else; someone else's request looks unknown to them.
func testWithdrawByPerson(t *testing.T, f *fixture) {
	r := f.open(t, dsr.Export, dsr.Details{})
	stranger := person(f.newSubject(t))

	before := f.footprint(t, r)
	_, err := f.svc.Transition(t.Context(), stranger, r.ID, dsr.Withdrawn, dsr.Reason{})
	f.checkRefused(t, r, before, err, errcode.NotFound)

	before = f.footprint(t, r)
	_, err = f.svc.Transition(t.Context(), person(r.SubjectID), r.ID, dsr.Completed, dsr.Reason{})
	f.checkRefused(t, r, before, err, errcode.Forbidden)

	before = f.footprint(t, r)
	_, err = f.svc.Extend(t.Context(), person(r.SubjectID), r.ID, dsr.Reason{Code: dsr.Complexity})
	f.checkRefused(t, r, before, err, errcode.Forbidden)

	if _, err := f.svc.History(t.Context(), stranger, r.ID); errcode.Of(err) != errcode.NotFound {
		t.Errorf("History by a stranger: %v, want not found", err)
	}
	if _, err := f.svc.OpenDetails(t.Context(), stranger, r.ID); errcode.Of(err) != errcode.NotFound {
		t.Errorf("OpenDetails by a stranger: %v, want not found", err)
	}
	if h, err := f.svc.History(t.Context(), person(r.SubjectID), r.ID); err != nil || len(h) != 1 {
		t.Errorf("History by the person: %d events, %v", len(h), err)
	}

	before = f.footprint(t, r)
	got, err := f.svc.Transition(t.Context(), person(r.SubjectID), r.ID, dsr.Withdrawn, dsr.Reason{Code: dsr.WithdrawnBySubject})
	if err != nil {
		t.Fatalf("withdraw: %v", err)
	}
	f.checkChanged(t, got, before, "dsr.request.withdrawn")
}

// testIdentityWait: time in awaiting_identity is added up and shown,
// including a wait still running, while the deadlines stay counted from
// receipt.
func testIdentityWait(t *testing.T, f *fixture) {
	ctx := t.Context()
	start := f.clock.Now()
	s := f.mustSubmit(t, public, dsr.NewRequest{Kind: dsr.Erasure, Channel: dsr.Form, Details: dsr.Details{All: true}})
	legal, target := s.LegalDueAt, s.TargetDueAt
	check := func(t *testing.T, want time.Duration) dsr.Request {
		t.Helper()
		r := f.mustGet(t, s.ID)
		if r.IdentityWait != want {
			t.Errorf("IdentityWait = %v, want %v", r.IdentityWait, want)
		}
		if !r.LegalDueAt.Equal(legal) || !r.TargetDueAt.Equal(target) {
			t.Errorf("deadlines moved to %v/%v from %v/%v", r.LegalDueAt, r.TargetDueAt, legal, target)
		}
		return r
	}

	f.clock.advance(2 * time.Hour)
	check(t, 2*time.Hour)

	before := f.footprint(t, s.Request)
	_, err := f.svc.Transition(ctx, dpo, s.ID, dsr.InProgress, dsr.Reason{})
	f.checkRefused(t, s.Request, before, err, errcode.Conflict) // not identified yet

	f.clock.advance(time.Hour)
	sub := f.newSubject(t)
	before = f.footprint(t, s.Request)
	linked, err := f.svc.Link(ctx, dpo, s.ID, sub)
	if err != nil {
		t.Fatalf("Link: %v", err)
	}
	if linked.SubjectID != sub || linked.State != dsr.AwaitingIdentity {
		t.Errorf("after link: subject %q state %s", linked.SubjectID, linked.State)
	}
	// From the link on, the request is audited under its subject.
	after := f.footprint(t, linked)
	if after.events != before.events+1 {
		t.Errorf("link wrote %d events, want 1", after.events-before.events)
	}
	if got := f.footprint(t, s.Request).auditAll; got != before.auditAll {
		t.Errorf("link wrote %d audit events under the request itself, want 0", got-before.auditAll)
	}
	if n := f.count(t, "SELECT COUNT(*) FROM audit_events WHERE target = $1 AND action = 'dsr.request.link'", f.target(linked)); n != 1 {
		t.Errorf("%d link audit events under the subject, want 1", n)
	}
	f.checkEventAudit(t, linked, "dsr.request.link")
	check(t, 3*time.Hour)

	f.clock.advance(2 * time.Hour)
	f.mustTransition(t, s.ID, dsr.InProgress, dsr.Reason{})
	check(t, 5*time.Hour)

	f.clock.advance(24 * time.Hour)
	check(t, 5*time.Hour)
	f.mustTransition(t, s.ID, dsr.AwaitingIdentity, dsr.Reason{Code: dsr.IdentityRequired, Text: "Address on the letter differs."})
	f.clock.advance(30 * time.Minute)
	r := check(t, 5*time.Hour+30*time.Minute)
	if want := start.Add(29 * time.Hour); !r.AwaitingIdentitySince.Equal(want) {
		t.Errorf("AwaitingIdentitySince = %v, want %v", r.AwaitingIdentitySince, want)
	}
	f.clock.advance(30 * time.Minute)
	f.mustTransition(t, s.ID, dsr.InProgress, dsr.Reason{})
	f.clock.advance(time.Hour)
	check(t, 6*time.Hour)

	var iri string
	if err := f.db.Read().QueryRowContext(ctx, `SELECT justification_iri FROM request_events
		WHERE request_id = $1 AND to_state = 'awaiting_identity' AND kind = 'transition'`, s.ID).Scan(&iri); err != nil {
		t.Fatal(err)
	}
	if iri != "https://w3id.org/dpv/legal/eu/gdpr#JustificationA12IdentityRequired" {
		t.Errorf("identity wait justified by %q", iri)
	}

	t.Run("link refused", func(t *testing.T) {
		before := f.footprint(t, r)
		_, err := f.svc.Link(ctx, dpo, s.ID, f.newSubject(t))
		f.checkRefused(t, r, before, err, errcode.Conflict) // already linked

		form := f.mustSubmit(t, public, dsr.NewRequest{Kind: dsr.Erasure, Channel: dsr.Form, Details: dsr.Details{All: true}})
		before = f.footprint(t, form.Request)
		_, err = f.svc.Link(ctx, dpo, form.ID, sub) // sub has an open erasure request
		f.checkRefused(t, form.Request, before, err, errcode.Conflict)

		before = f.footprint(t, form.Request)
		_, err = f.svc.Link(ctx, dpo, form.ID, "sub_aaaaaaaaaaaaaaaaaaaaaaaaaa")
		f.checkRefused(t, form.Request, before, err, errcode.NotFound)
	})
}
