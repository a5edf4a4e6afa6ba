package consent_test

import (
	"slices"
	"testing"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// allowedIDs streams the subjects allowed for purpose.
func (f *fixture) allowedIDs(t *testing.T, purpose string) []string {
	t.Helper()
	var ids []string
	if err := f.reg.SubjectsAllowed(t.Context(), purpose, func(id string) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatalf("SubjectsAllowed: %v", err)
	}
	return ids
}

// decision checks Check, CheckMany and State agree on s × purpose and
// returns their answer.
func (f *fixture) decision(t *testing.T, s, purpose string) consent.Decision {
	t.Helper()
	d := f.mustCheck(t, s, purpose)
	many, err := f.reg.CheckMany(t.Context(), []consent.Pair{{SubjectID: s, Purpose: purpose}})
	if err != nil || !sameDecision(d, many[0]) {
		t.Fatalf("CheckMany %+v (%v) differs from Check %+v", many, err, d)
	}
	states, err := f.reg.State(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if st.Purpose.Slug == purpose && !sameDecision(d, st.Decision) {
			t.Fatalf("State %+v differs from Check %+v", st.Decision, d)
		}
	}
	if got := slices.Contains(f.allowedIDs(t, purpose), s); got != d.Allowed {
		t.Fatalf("SubjectsAllowed includes the person: %v, Check allowed: %v", got, d.Allowed)
	}
	return d
}

// TestObjectionToLegitimateInterest: an objection to a purpose based on
// legitimate interests restricts that purpose for that person until staff
// decide (R-15, Art. 18(1)(d)); an objection to direct marketing stops it
// at once with nothing to decide.
func TestObjectionToLegitimateInterest(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		ctx := t.Context()
		s := f.newSubject(t)
		bystander := f.newSubject(t)
		if d := f.decision(t, s, "analytics"); !d.Allowed {
			t.Fatalf("analytics before any objection: %+v", d)
		}
		obj := f.mustRecord(t, subjectActor(s), request(s, consent.Object, "analytics"))
		d := f.decision(t, s, "analytics")
		if d.Allowed || d.Reason != consent.ReasonRestricted || d.RecordID != obj.ID {
			t.Fatalf("pending objection: %+v, want restricted by record %s", d, obj.ID)
		}
		if d := f.decision(t, bystander, "analytics"); !d.Allowed {
			t.Errorf("another person's objection restricted the bystander: %+v", d)
		}

		target := f.seal.kr.AuditTarget("subject", s)
		refusals := func(code errcode.Code) int {
			return f.count(t, "SELECT COUNT(*) FROM audit_events WHERE action = 'consent.objection.decide' AND target = $1 AND result = $2", target, string(code))
		}
		for _, tc := range []struct {
			name     string
			actor    consent.Actor
			purpose  string
			decision consent.ObjectionDecision
			why      string
			want     errcode.Code
		}{
			{"not staff", apiKey, "analytics", consent.Overridden, "we need it", errcode.Forbidden},
			{"the person", subjectActor(s), "analytics", consent.Overridden, "we need it", errcode.Forbidden},
			{"no justification", dpo, "analytics", consent.Overridden, "  ", errcode.Invalid},
			{"unknown decision", dpo, "analytics", "maybe", "we need it", errcode.Invalid},
			{"direct marketing is absolute", dpo, "partner-offers", consent.Overridden, "we need it", errcode.Invalid},
			{"consent purpose", dpo, "newsletter", consent.Overridden, "we need it", errcode.Invalid},
			{"nothing to decide", dpo, "security", consent.Overridden, "we need it", errcode.Conflict},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before, n := f.footprint(t), refusals(tc.want)
				err := f.reg.DecideObjection(ctx, tc.actor, s, tc.purpose, tc.decision, tc.why)
				wantCode(t, err, tc.want)
				if d := f.decision(t, s, "analytics"); d.Reason != consent.ReasonRestricted {
					t.Errorf("refused decision changed the state: %+v", d)
				}
				if f.count(t, "SELECT COUNT(*) FROM objection_decisions") != 0 || f.footprint(t).records != before.records {
					t.Error("refused decision wrote a decision or a record")
				}
				if refusals(tc.want) != n+1 {
					t.Error("refused decision not audited")
				}
			})
		}

		t.Run("direct marketing objection takes effect at once", func(t *testing.T) {
			f.mustRecord(t, subjectActor(s), request(s, consent.Object, "partner-offers"))
			if d := f.decision(t, s, "partner-offers"); d.Allowed || d.Reason != consent.ReasonObjected {
				t.Errorf("direct marketing objection: %+v, want objected", d)
			}
		})

		t.Run("overridden by compelling grounds", func(t *testing.T) {
			if err := f.reg.DecideObjection(ctx, dpo, s, "analytics", consent.Overridden, "fraud pattern analysis needed for the account's security"); err != nil {
				t.Fatalf("DecideObjection: %v", err)
			}
			if d := f.decision(t, s, "analytics"); !d.Allowed || d.Reason != consent.ReasonLegalBasis || d.RecordID != obj.ID {
				t.Errorf("after override: %+v", d)
			}
			if n := f.count(t, "SELECT COUNT(*) FROM audit_events WHERE action = 'consent.objection.decide' AND actor = 'staff:dpo' AND result = 'ok' AND target = $1 AND key_id <> ''", target); n != 1 {
				t.Errorf("%d sealed audit events of the decision, want 1", n)
			}
			wantCode(t, f.reg.DecideObjection(ctx, dpo, s, "analytics", consent.Upheld, "changed my mind"), errcode.Conflict)
			// The cache is rebuilt from the records and the decisions.
			f.exec(t, func(tx *sqlstore.Tx) error {
				_, err := tx.ExecContext(ctx, "UPDATE consent_state SET decision = ''")
				return err
			})
			if _, err := f.reg.Rebuild(ctx, dpo); err != nil {
				t.Fatal(err)
			}
			if d := f.decision(t, s, "analytics"); !d.Allowed {
				t.Errorf("Rebuild lost the decision: %+v", d)
			}
		})

		t.Run("a new objection needs a new decision", func(t *testing.T) {
			again := f.mustRecord(t, subjectActor(s), request(s, consent.Object, "analytics"))
			if d := f.decision(t, s, "analytics"); d.Allowed || d.Reason != consent.ReasonRestricted || d.RecordID != again.ID {
				t.Fatalf("new objection: %+v", d)
			}
			if err := f.reg.DecideObjection(ctx, dpo, s, "analytics", consent.Upheld, "no overriding grounds"); err != nil {
				t.Fatal(err)
			}
			if d := f.decision(t, s, "analytics"); d.Allowed || d.Reason != consent.ReasonObjected {
				t.Errorf("upheld objection: %+v", d)
			}
		})
	})
}
