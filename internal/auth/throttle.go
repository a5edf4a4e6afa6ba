package auth

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Limits bound sign-in attempts (security target AU-1). The counters live
// in the auth_attempts table, so they hold across replicas.
type Limits struct {
	// AccountFailures failed sign-ins per account within AccountWindow
	// lock the account until the oldest of them ages out. The lock
	// answers exactly like a wrong password or code.
	AccountFailures int
	AccountWindow   time.Duration
	// After DelayAfter failures within the window, each next attempt must
	// wait 1 s, doubling per further failure up to MaxDelay, after the
	// last failure (answered 429 with Retry-After).
	DelayAfter int
	MaxDelay   time.Duration
	// IPAttempts sign-in attempts (failed or not) per client address
	// within IPWindow; 0 means no per-address limit.
	IPAttempts int
	IPWindow   time.Duration
}

// DefaultLimits are the limits the product promises: 20 failures per
// account per hour, delays from the 5th failure (1 s doubling to 1 min,
// so that the 20th failure, and the lock, come within the hour), 60 attempts per address
// per minute.
var DefaultLimits = Limits{AccountFailures: 20, AccountWindow: time.Hour, DelayAfter: 5, MaxDelay: time.Minute,
	IPAttempts: 60, IPWindow: time.Minute}

// RateLimitError says the caller must wait; the HTTP layer answers 429
// with Retry-After and RateLimit headers. It is the same for existing and
// unknown accounts, since both are counted by the blind index of what was
// typed.
type RateLimitError struct {
	RetryAfter time.Duration
	Limit      int           // the quota of the policy that refused
	Window     time.Duration // its window
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited: retry after %s", e.RetryAfter)
}

// Unwrap makes the error an errcode.RateLimited error.
func (e *RateLimitError) Unwrap() error {
	return errcode.E(errcode.RateLimited, "too many attempts; try again later")
}

// throttleBuckets are the two counters of one attempt.
type throttleBuckets struct {
	account string // "a:" + hex blind index
	ip      string // "i:" + hex HMAC of the address
}

// throttleState is what the counters say before an attempt.
type throttleState struct {
	failures int  // account failures within the window
	locked   bool // failures >= AccountFailures
}

// throttleCheck reads the counters. A rate limit is an error; a lock is
// not (the caller must go on and answer like a wrong credential).
func throttleCheck(ctx context.Context, q sqlstore.Querier, l Limits, b throttleBuckets, now time.Time) (throttleState, error) {
	if l.IPAttempts > 0 {
		var n int
		var oldest sql.NullInt64
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*), MIN(at) FROM auth_attempts WHERE bucket = $1 AND at > $2",
			b.ip, sqlstore.Micros(now.Add(-l.IPWindow))).Scan(&n, &oldest); err != nil {
			return throttleState{}, fmt.Errorf("throttle: %w", err)
		}
		if n >= l.IPAttempts {
			retry := sqlstore.FromMicros(oldest.Int64).Add(l.IPWindow).Sub(now)
			return throttleState{}, &RateLimitError{RetryAfter: max(retry, time.Second), Limit: l.IPAttempts, Window: l.IPWindow}
		}
	}
	var f, locks sql.NullInt64
	var last sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT SUM(CASE WHEN failed = 1 THEN 1 ELSE 0 END), MAX(CASE WHEN failed = 1 THEN at END), SUM(CASE WHEN failed = 2 THEN 1 ELSE 0 END) FROM auth_attempts WHERE bucket = $1 AND failed > 0 AND at > $2",
		b.account, sqlstore.Micros(now.Add(-l.AccountWindow))).Scan(&f, &last, &locks); err != nil {
		return throttleState{}, fmt.Errorf("throttle: %w", err)
	}
	// Locked while a lock marker (failed = 2, written by the failure that
	// reached the limit) is younger than the window: the lock lasts the
	// full window from that moment, however the failures age.
	st := throttleState{failures: int(f.Int64), locked: f.Int64 >= int64(l.AccountFailures) || locks.Int64 > 0}
	if !st.locked && st.failures >= l.DelayAfter && l.DelayAfter > 0 {
		wait := min(time.Second<<min(st.failures-l.DelayAfter, 30), l.MaxDelay)
		if until := sqlstore.FromMicros(last.Int64).Add(wait); now.Before(until) {
			return st, &RateLimitError{RetryAfter: max(until.Sub(now).Round(time.Second), time.Second), Limit: l.AccountFailures, Window: l.AccountWindow}
		}
	}
	return st, nil
}

// throttleRecord counts an attempt in both buckets and prunes rows that no
// window looks at any more. It reports whether this failure is the one
// that locks the account (for the lockout audit event).
func throttleRecord(ctx context.Context, tx *sqlstore.Tx, l Limits, b throttleBuckets, st throttleState, failed bool, now time.Time) (lockedNow bool, err error) {
	f := 0
	if failed {
		f = 1
	}
	at := sqlstore.Micros(now)
	horizon := sqlstore.Micros(now.Add(-max(l.AccountWindow, l.IPWindow)))
	for _, bucket := range []string{b.account, b.ip} {
		if _, err := tx.ExecContext(ctx, "INSERT INTO auth_attempts (bucket, at, failed) VALUES ($1, $2, $3)", bucket, at, f); err != nil {
			return false, err
		}
	}
	// Prune every bucket, not only these two: a spray of unknown addresses
	// leaves one bucket each, and none of them would come back to prune
	// itself. The index on at keeps this to the rows that expired.
	if _, err := tx.ExecContext(ctx, "DELETE FROM auth_attempts WHERE at < $1", horizon); err != nil {
		return false, err
	}
	if failed && st.failures+1 == l.AccountFailures {
		if _, err := tx.ExecContext(ctx, "INSERT INTO auth_attempts (bucket, at, failed) VALUES ($1, $2, 2)", b.account, at); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}

// throttleReset forgets an account's failures after a complete sign-in.
func throttleReset(ctx context.Context, tx *sqlstore.Tx, b throttleBuckets) error {
	_, err := tx.ExecContext(ctx, "DELETE FROM auth_attempts WHERE bucket = $1 AND failed = 1", b.account)
	return err
}

func hexBucket(prefix string, mac []byte) string { return prefix + hex.EncodeToString(mac) }
