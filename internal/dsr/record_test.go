package dsr_test

import (
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// TestEveryChangeRecordedOnce walks requests through every kind of change
// and checks after each that exactly one request event and one audit
// event were written, tied to each other; then that the whole log has no
// request event without its audit event and no dsr change event without
// its request event.
func TestEveryChangeRecordedOnce(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		t.Parallel()
		f := newFixture(t, e, nil)
		ctx := t.Context()
		sub := f.newSubject(t)

		var r dsr.Request
		steps := []struct {
			name   string
			action string
			do     func() (dsr.Request, error)
		}{
			{"submit", "dsr.request.submit", func() (dsr.Request, error) {
				s, err := f.svc.Submit(ctx, person(sub), dsr.NewRequest{SubjectID: sub, Kind: dsr.Erasure, Channel: dsr.Portal,
					Details: dsr.Details{Categories: []string{"marketing"}}})
				return s.Request, err
			}},
			{"merge", "dsr.request.merge", func() (dsr.Request, error) {
				s, err := f.svc.Submit(ctx, hostApp, apiRequest(sub, dsr.Erasure, dsr.Details{Categories: []string{"usage"}}))
				return s.Request, err
			}},
			{"assign", "dsr.request.assign", func() (dsr.Request, error) { return f.svc.Assign(ctx, dpo, r.ID, support.Name) }},
			{"ask for identity", "dsr.request.awaiting_identity", func() (dsr.Request, error) {
				return f.svc.Transition(ctx, support, r.ID, dsr.AwaitingIdentity, dsr.Reason{Code: dsr.IdentityRequired})
			}},
			{"start", "dsr.request.in_progress", func() (dsr.Request, error) {
				return f.svc.Transition(ctx, support, r.ID, dsr.InProgress, dsr.Reason{})
			}},
			{"extend", "dsr.request.extend", func() (dsr.Request, error) {
				return f.svc.Extend(ctx, support, r.ID, dsr.Reason{Code: dsr.Complexity, Text: "Data in three systems."})
			}},
			{"ask approval", "dsr.request.awaiting_approval", func() (dsr.Request, error) {
				return f.svc.Transition(ctx, support, r.ID, dsr.AwaitingApproval, dsr.Reason{})
			}},
			{"unassign", "dsr.request.assign", func() (dsr.Request, error) { return f.svc.Assign(ctx, dpo, r.ID, "") }},
			{"complete", "dsr.request.completed", func() (dsr.Request, error) {
				return f.svc.Transition(ctx, dpo, r.ID, dsr.Completed, dsr.Reason{Text: "Approved."})
			}},
		}
		var before footprint
		for i, step := range steps {
			if i > 0 {
				before = f.footprint(t, r)
			}
			f.clock.advance(time.Minute)
			got, err := step.do()
			if err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			if i == 0 {
				// Nothing existed before the submission.
				before = footprint{auditOK: f.footprint(t, got).auditOK - 1}
			}
			if got.Version != int64(i+1) {
				t.Errorf("%s: version %d, want %d", step.name, got.Version, i+1)
			}
			r = got
			f.checkChanged(t, r, before, step.action)
		}

		t.Run("assigning to whoever has it changes nothing", func(t *testing.T) {
			open := f.open(t, dsr.Access, dsr.Details{})
			open, err := f.svc.Assign(ctx, dpo, open.ID, support.Name)
			if err != nil {
				t.Fatal(err)
			}
			before := f.footprint(t, open)
			again, err := f.svc.Assign(ctx, dpo, open.ID, support.Name)
			if err != nil || again.Version != open.Version {
				t.Fatalf("second Assign: version %d, %v", again.Version, err)
			}
			if after := f.footprint(t, open); after != before {
				t.Errorf("a no-op wrote: %+v → %+v", before, after)
			}
		})

		t.Run("the whole log", func(t *testing.T) {
			// A form request goes through a link too.
			form := f.mustSubmit(t, public, dsr.NewRequest{Kind: dsr.Access, Channel: dsr.Form})
			if _, err := f.svc.Link(ctx, dpo, form.ID, f.newSubject(t)); err != nil {
				t.Fatal(err)
			}
			events := f.count(t, "SELECT COUNT(*) FROM request_events")
			joined := f.count(t, `SELECT COUNT(*) FROM request_events e JOIN audit_events a ON a.seq = e.audit_seq
				WHERE a.result = 'ok' AND a.action LIKE 'dsr.request.%' AND a.actor = e.actor AND a.at = e.at`)
			changes := f.count(t, `SELECT COUNT(*) FROM audit_events WHERE action LIKE 'dsr.request.%' AND result = 'ok'
				AND action NOT LIKE '%.read'`)
			if events == 0 || joined != events || changes != events {
				t.Errorf("%d request events, %d tied to their audit event, %d dsr change audit events", events, joined, changes)
			}
		})

		t.Run("request events are append-only", func(t *testing.T) {
			for _, stmt := range []string{
				"UPDATE request_events SET reason_code = 'x' WHERE request_id = $1",
				"DELETE FROM request_events WHERE request_id = $1",
			} {
				err := f.db.Write(ctx, func(tx *sqlstore.Tx) error {
					_, err := tx.ExecContext(ctx, stmt, r.ID)
					return err
				})
				if err == nil {
					t.Errorf("%s succeeded", stmt)
				}
			}
			err := f.db.Write(ctx, func(tx *sqlstore.Tx) error {
				_, err := tx.ExecContext(ctx, "UPDATE requests SET received_at = received_at - 1 WHERE id = $1", r.ID)
				return err
			})
			if err == nil {
				t.Error("a request's receipt time was rewritten")
			}
		})
	})
}
