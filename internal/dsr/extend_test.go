package dsr_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// TestServiceExtend is R-02: one extension, before (or at) the legal deadline,
// with a reason; it moves both deadlines to receipt + 3 months and queues
// the notice to the person inside month one. Every refused extension
// changes nothing and is audited.
func TestServiceExtend(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		t.Parallel()
		f := newFixture(t, e, nil)
		received := at(t, "2025-03-05T10:00:00Z") // legal 2025-04-07, extended 2025-06-05
		legal := endOf(t, "2025-04-07")
		tests := []struct {
			name     string
			now      time.Time
			prepare  func(t *testing.T, r dsr.Request) // runs at receipt
			reason   dsr.Reason
			want     errcode.Code
			sentinel error
		}{
			{name: "on the day of receipt", now: received, reason: dsr.Reason{Code: dsr.Complexity}},
			{name: "the day before the legal deadline", now: legal.Add(-24 * time.Hour),
				reason: dsr.Reason{Code: dsr.NumberOfRequests, Text: "Product launch: 600 requests this week."}},
			{name: "at the legal deadline", now: legal, reason: dsr.Reason{Code: dsr.Complexity}},
			{name: "a microsecond after the legal deadline", now: legal.Add(time.Microsecond),
				reason: dsr.Reason{Code: dsr.Complexity}, want: errcode.Conflict, sentinel: dsr.ErrExtensionTooLate},
			{name: "a month late", now: legal.AddDate(0, 1, 0),
				reason: dsr.Reason{Code: dsr.Complexity}, want: errcode.Conflict, sentinel: dsr.ErrExtensionTooLate},
			{name: "a second extension", now: received.Add(48 * time.Hour), reason: dsr.Reason{Code: dsr.Complexity},
				prepare: func(t *testing.T, r dsr.Request) {
					if _, err := f.svc.Extend(t.Context(), dpo, r.ID, dsr.Reason{Code: dsr.NumberOfRequests}); err != nil {
						t.Fatalf("first Extend: %v", err)
					}
				},
				want: errcode.Conflict, sentinel: dsr.ErrAlreadyExtended},
			{name: "a closed request", now: received.Add(time.Hour), reason: dsr.Reason{Code: dsr.Complexity},
				prepare: func(t *testing.T, r dsr.Request) {
					f.mustTransition(t, r.ID, dsr.Withdrawn, dsr.Reason{})
				},
				want: errcode.Conflict},
			{name: "no reason", now: received.Add(time.Hour), want: errcode.Invalid},
			{name: "a refusal code", now: received.Add(time.Hour),
				reason: dsr.Reason{Code: dsr.ManifestlyExcessive}, want: errcode.Invalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f.clock.set(received)
				r := f.open(t, dsr.Access, dsr.Details{})
				if !r.LegalDueAt.Equal(legal) {
					t.Fatalf("LegalDueAt = %v, want %v", r.LegalDueAt, legal)
				}
				if tt.prepare != nil {
					tt.prepare(t, r)
					r = f.mustGet(t, r.ID)
				}
				f.clock.set(tt.now)
				before := f.footprint(t, r)
				got, err := f.svc.Extend(t.Context(), dpo, r.ID, tt.reason)
				if tt.want != "" {
					f.checkRefused(t, r, before, err, tt.want)
					if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
						t.Errorf("error %v does not wrap %v", err, tt.sentinel)
					}
					return
				}
				if err != nil {
					t.Fatalf("Extend: %v", err)
				}
				f.checkChanged(t, got, before, "dsr.request.extend")
				want := endOf(t, "2025-06-05")
				if !got.Extended || got.ExtensionReason != tt.reason.Code || !got.LegalDueAt.Equal(want) || !got.TargetDueAt.Equal(want) {
					t.Errorf("after Extend: extended=%v reason=%s legal=%v target=%v, want %v", got.Extended, got.ExtensionReason, got.LegalDueAt, got.TargetDueAt, want)
				}
				if stored := f.mustGet(t, r.ID); !stored.LegalDueAt.Equal(want) || !stored.Extended {
					t.Errorf("stored: extended=%v legal=%v", stored.Extended, stored.LegalDueAt)
				}
				// The person is told, and told in time.
				var kind string
				var queued int64
				if err := f.db.Read().QueryRowContext(t.Context(), `SELECT kind, created_at FROM request_notifications
					WHERE request_id = $1 AND event_version = $2 AND sent_at IS NULL`, r.ID, got.Version).Scan(&kind, &queued); err != nil {
					t.Fatalf("extension notice: %v", err)
				}
				if kind != dsr.NotifyExtension || sqlstore.FromMicros(queued).After(legal) {
					t.Errorf("notice %s queued at %v, want %s by %v", kind, sqlstore.FromMicros(queued), dsr.NotifyExtension, legal)
				}
				hist, err := f.svc.History(t.Context(), dpo, r.ID)
				if err != nil {
					t.Fatalf("History: %v", err)
				}
				last := hist[len(hist)-1]
				var facts struct {
					Legal    time.Time `json:"legal_due_at"`
					Previous time.Time `json:"previous_legal_due_at"`
				}
				if err := json.Unmarshal(last.Facts, &facts); err != nil {
					t.Fatalf("event facts %s: %v", last.Facts, err)
				}
				if last.Kind != dsr.EventExtend || last.Text != tt.reason.Text || !facts.Legal.Equal(want) || !facts.Previous.Equal(legal) {
					t.Errorf("extension event: %+v facts %s", last, last.Facts)
				}
				if last.JustificationIRI != tt.reason.Code.IRI() || last.JustificationIRI == "" {
					t.Errorf("extension justified by %q", last.JustificationIRI)
				}
			})
		}
	})
}
