package cli

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gdprd/gdprd/internal/api"
	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// maintenanceInterval is how often the server folds the WAL back and signs
// an audit checkpoint.
const maintenanceInterval = time.Minute

// maintain runs housekeeping until ctx ends: expired sign-in codes and
// hand-off token ids deleted, a truncating WAL checkpoint of
// both SQLite stores, so erased rows do not linger in the WAL, and a signed
// audit checkpoint whenever the log has grown, so at most a minute of
// events is unpinned by a signature; and the erasure sweep, which erases
// the categories whose legal hold has ended.
func (a *app) maintain(ctx context.Context) {
	t := time.NewTicker(maintenanceInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.maintainOnce(ctx, false)
		}
	}
}

// maintainOnce runs one round; final is the round at shutdown, which also
// writes the consent-check summary of the day so far.
func (a *app) maintainOnce(ctx context.Context, final bool) {
	// Expired sign-in codes and token ids first, so the checkpoint below
	// folds their deletion out of the WAL too.
	for _, sw := range [...]interface{ Sweep(context.Context) error }{a.codes, a.handoff} {
		if err := sw.Sweep(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("sign-in sweep failed", "err", err)
		}
	}
	for _, db := range [...]interface{ Checkpoint(context.Context) error }{a.db, a.keysDB} {
		if err := db.Checkpoint(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("WAL checkpoint failed", "err", err)
		}
	}
	if n, err := a.eraser.Sweep(ctx); err != nil && ctx.Err() == nil {
		a.log.Warn("erasure sweep failed", "err", err)
	} else if n > 0 {
		a.log.Info("erased categories whose legal hold ended", "categories", n)
	}
	if err := a.summarizeChecks(ctx, final); err != nil && ctx.Err() == nil {
		a.log.Warn("consent check summary failed", "err", err)
	}
	if _, err := a.audit.Checkpoint(ctx, a.db); err != nil && ctx.Err() == nil {
		a.log.Warn("audit checkpoint failed", "err", err)
	}
}

// checkSummaryEvery is how often the consent checks answered are written
// to the audit log as a summary.
const checkSummaryEvery = 24 * time.Hour

// checkSummary is what the last consent-check summary covered.
type checkSummary struct {
	metrics *api.ConsentMetrics

	mu     sync.Mutex // the maintenance loop and shutdown may overlap
	totals api.CheckTotals
	since  time.Time
}

// summarizeChecks appends one audit event per API key and purpose with the
// consent checks answered since the last summary. Checks are counted, not
// audited one by one (the check path must never wait on a disk), and this
// daily summary is how they still reach the tamper-evident log: who asked
// about which purpose, how often, and how often the answer was no.
// It writes once checkSummaryEvery has passed, or at once when force is
// set (at shutdown, so a restart loses no counts).
func (a *app) summarizeChecks(ctx context.Context, force bool) error {
	a.checks.mu.Lock()
	defer a.checks.mu.Unlock()
	now := a.now().UTC()
	if !force && now.Sub(a.checks.since) < checkSummaryEvery {
		return nil
	}
	totals, counts := a.checks.metrics.Since(a.checks.totals)
	if len(counts) > 0 {
		events := make([]audit.Event, 0, len(counts))
		for _, c := range counts {
			events = append(events, audit.Event{
				Actor: "apikey:" + c.Key, Action: "consent.check.summary", Purpose: c.Purpose, Target: "consent-checks",
				Result: fmt.Sprintf("allowed=%d refused=%d from=%s to=%s", c.Allowed, c.Refused,
					a.checks.since.Format(time.RFC3339), now.Format(time.RFC3339)),
			})
		}
		err := a.db.Write(ctx, func(tx *sqlstore.Tx) error {
			_, err := a.audit.AppendAll(ctx, tx, events)
			return err
		})
		if err != nil {
			return err
		}
	}
	a.checks.totals, a.checks.since = totals, now
	return nil
}
