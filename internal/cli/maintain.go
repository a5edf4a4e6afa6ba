package cli

import (
	"context"
	"time"
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
			a.maintainOnce(ctx)
		}
	}
}

func (a *app) maintainOnce(ctx context.Context) {
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
	if _, err := a.audit.Checkpoint(ctx, a.db); err != nil && ctx.Err() == nil {
		a.log.Warn("audit checkpoint failed", "err", err)
	}
}
