package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Defaults for Options. The backoff doubles from DefaultBackoffBase up to
// DefaultBackoffMax: quick retries for a blip, an hourly pace for an outage.
const (
	DefaultWorkers      = 4
	DefaultPollInterval = time.Second
	DefaultTimeout      = time.Minute
	DefaultBackoffBase  = 5 * time.Second
	DefaultBackoffMax   = time.Hour
)

// maxErrorLen bounds last_error: enough to diagnose, too little to turn
// the job table into a log store.
const maxErrorLen = 1000

// errLeaseExpired is recorded when a job's lease ran out on its final
// attempt, so the runner that held it never reported back.
var errLeaseExpired = errors.New("jobs: lease expired before the job finished (runner stopped or timed out)")

// errLeaseLost tells a runner that another runner has taken its job over
// after the lease ran out; the late result is dropped.
var errLeaseLost = errors.New("jobs: lease lost")

// Handler does the work of one kind of job. The context carries the
// runner's deadline. An error makes the job retry later, unless it is
// wrapped by Permanent or the job has no attempts left; the error text is
// stored and logged, so it must not contain personal data.
type Handler interface {
	Run(ctx context.Context, j Job) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, j Job) error

// Run calls f.
func (f HandlerFunc) Run(ctx context.Context, j Job) error { return f(ctx, j) }

// Finisher is implemented by handlers that keep state of their own beside
// the job and must settle it in the same transaction that records the
// job's final state (Done or Dead): the mail outbox erases the message
// there, so a message is never marked sent while its content stays, nor
// erased while its job could still run. If Finish fails, the job's outcome
// is not recorded either and the job runs again once its lease ends.
type Finisher interface {
	Finish(ctx context.Context, tx *sqlstore.Tx, j Job, final State) error
}

// Options configure a Runner. Zero values mean the defaults.
type Options struct {
	// Clock returns the current time (time.Now when nil). It decides which
	// jobs are due, leases and retry times; tests inject a fake.
	Clock func() time.Time
	// Rand returns a uniform random number in [0, n), for backoff jitter
	// (math/rand/v2.Int64N when nil); tests inject a fixed one.
	Rand func(n int64) int64
	// Logger receives job failures (discarded when nil).
	Logger *slog.Logger
	// Owner names this runner in lease_owner (random when empty). Each
	// runner needs its own: a late result from a runner whose lease was
	// taken over is recognised by it.
	Owner string
	// Workers is how many jobs one runner runs at once.
	Workers int
	// PollInterval is how long Run waits after finding nothing due.
	PollInterval time.Duration
	// Timeout is the deadline of one handler run.
	Timeout time.Duration
	// Lease is how long a claimed job stays reserved for this runner. It
	// must exceed Timeout, so that a live runner never loses a job it is
	// still working on; the default is Timeout plus a minute.
	Lease time.Duration
	// BackoffBase and BackoffMax shape the retry delay: BackoffBase after
	// the first failure, doubling after each further one, never more than
	// BackoffMax, then reduced by up to half at random so that jobs that
	// failed together (an SMTP outage) do not retry together.
	BackoffBase, BackoffMax time.Duration
}

// Runner claims due jobs and runs their handlers. Several runners, in one
// process or on several replicas, may share a database: each job is
// claimed by one of them at a time.
type Runner struct {
	db      *sqlstore.DB
	clock   func() time.Time
	rand    func(n int64) int64
	log     *slog.Logger
	owner   string
	workers int
	poll    time.Duration
	timeout time.Duration
	lease   time.Duration
	base    time.Duration
	max     time.Duration

	mu       sync.RWMutex
	handlers map[string]Handler
}

// NewRunner returns a runner over db's job table. Register handlers before
// calling Run.
func NewRunner(db *sqlstore.DB, opts Options) (*Runner, error) {
	r := &Runner{
		db: db, clock: opts.Clock, rand: opts.Rand, log: opts.Logger, owner: opts.Owner,
		workers: opts.Workers, poll: opts.PollInterval, timeout: opts.Timeout, lease: opts.Lease,
		base: opts.BackoffBase, max: opts.BackoffMax,
		handlers: map[string]Handler{},
	}
	if r.clock == nil {
		r.clock = time.Now
	}
	if r.rand == nil {
		r.rand = mrand.Int64N
	}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.owner == "" {
		var b [8]byte
		rand.Read(b[:])
		r.owner = "runner-" + hex.EncodeToString(b[:])
	}
	if r.workers <= 0 {
		r.workers = DefaultWorkers
	}
	if r.poll <= 0 {
		r.poll = DefaultPollInterval
	}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	if r.lease <= 0 {
		r.lease = r.timeout + time.Minute
	}
	if r.lease <= r.timeout {
		return nil, fmt.Errorf("jobs: lease (%s) must be longer than the handler timeout (%s)", r.lease, r.timeout)
	}
	if r.base <= 0 {
		r.base = DefaultBackoffBase
	}
	if r.max <= 0 {
		r.max = DefaultBackoffMax
	}
	if r.max < r.base {
		return nil, fmt.Errorf("jobs: backoff maximum (%s) is below its base (%s)", r.max, r.base)
	}
	return r, nil
}

// Register sets the handler of a kind of job. Only registered kinds are
// claimed, so during a rolling upgrade an older replica leaves a new kind
// to the replicas that know it. Registering a kind twice is a programming
// error and panics, as with http.ServeMux.
func (r *Runner) Register(kind string, h Handler) {
	if !kindPattern.MatchString(kind) || h == nil {
		panic("jobs: Register: invalid kind or nil handler")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.handlers[kind]; dup {
		panic("jobs: Register: kind " + kind + " registered twice")
	}
	r.handlers[kind] = h
}

// Run claims and runs due jobs, up to Options.Workers at once, until ctx
// ends; then it stops claiming, waits for the handlers in flight to finish
// and record their results, and returns nil. Handlers do not see ctx end:
// their own deadline is Options.Timeout, so a shutdown does not turn work
// that was about to succeed into a retry.
func (r *Runner) Run(ctx context.Context) error {
	if len(r.kinds()) == 0 {
		return errors.New("jobs: Run: no handlers registered")
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, r.workers)
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		j, ok, err := r.claim(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Error("jobs: claim failed", "err", err)
		}
		if !ok {
			<-slots
			idle := time.NewTimer(r.poll)
			select {
			case <-idle.C:
			case <-ctx.Done():
				idle.Stop()
				return nil
			}
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			r.execute(context.WithoutCancel(ctx), j)
		})
	}
}

// RunDue runs the jobs due now one after another until none is left, and
// returns how many ran. Tests drive the runner with it step by step under a
// fake clock; tools can use it to work off a queue without a service. A
// failed job is not due again in the same call: its retry lies at least
// half of BackoffBase ahead.
func (r *Runner) RunDue(ctx context.Context) (int, error) {
	n := 0
	for {
		j, ok, err := r.claim(ctx)
		if err != nil || !ok {
			return n, err
		}
		r.execute(context.WithoutCancel(ctx), j)
		n++
	}
}

func (r *Runner) kinds() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ks := make([]string, 0, len(r.handlers))
	for k := range r.handlers {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (r *Runner) handler(kind string) Handler {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.handlers[kind]
}

// dueCondition selects the jobs a runner may claim at $1: due ones that are
// queued, and running ones whose lease has run out (their runner died or
// lost track). The state IN list matches the jobs_due partial index.
// Kinds are bound from $first on.
func dueCondition(kinds []string, first int) string {
	var b strings.Builder
	b.WriteString(`state IN ('queued', 'running') AND run_at <= $1
		AND (state = 'queued' OR lease_until <= $1) AND kind IN (`)
	for i := range kinds {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(first+i))
	}
	b.WriteString(")")
	return b.String()
}

// claim takes one due job, if there is one, by moving it to running with
// this runner's lease and counting the attempt.
//
// The UPDATE … WHERE id = (SELECT … LIMIT 1) is one statement: on SQLite,
// whose single writer serialises transactions, no other runner can claim
// between the choice and the update; on PostgreSQL, FOR UPDATE SKIP LOCKED
// makes concurrent runners choose different rows instead of queueing
// behind one another, and a row another runner just claimed is no longer
// due when its lock is released.
func (r *Runner) claim(ctx context.Context) (Job, bool, error) {
	kinds := r.kinds()
	if len(kinds) == 0 {
		return Job{}, false, nil
	}
	now := r.clock()
	args := []any{sqlstore.Micros(now)}
	for _, k := range kinds {
		args = append(args, k)
	}
	// Look before taking the write lock: most polls find nothing, and on
	// SQLite the one writer is better left to real work.
	var one int
	err := r.db.Read().QueryRowContext(ctx, "SELECT 1 FROM jobs WHERE "+dueCondition(kinds, 2)+" LIMIT 1", args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, false, nil
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("poll jobs: %w", err)
	}
	lock := ""
	if r.db.Engine() == sqlstore.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	q := `UPDATE jobs SET state = 'running', attempts = attempts + 1,
			lease_owner = $2, lease_until = $3, updated_at = $1
		WHERE id = (SELECT id FROM jobs WHERE ` + dueCondition(kinds, 4) + `
			ORDER BY run_at LIMIT 1` + lock + `)
		RETURNING id, kind, payload, unique_key, run_at, attempts, max_attempts, created_at`
	args = append([]any{args[0], r.owner, sqlstore.Micros(now.Add(r.lease))}, args[1:]...)
	var (
		j              Job
		found          bool
		payload        string
		unique         sql.NullString
		runAt, created int64
	)
	err = r.db.Write(ctx, func(tx *sqlstore.Tx) error {
		err := tx.QueryRowContext(ctx, q, args...).Scan(&j.ID, &j.Kind, &payload, &unique,
			&runAt, &j.Attempts, &j.MaxAttempts, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // another runner was quicker
		}
		found = err == nil
		return err
	})
	if err != nil {
		return Job{}, false, fmt.Errorf("claim job: %w", err)
	}
	if !found {
		return Job{}, false, nil
	}
	j.State = Running
	j.Payload = json.RawMessage(payload)
	j.UniqueKey = unique.String
	j.RunAt, j.CreatedAt, j.UpdatedAt = sqlstore.FromMicros(runAt), sqlstore.FromMicros(created), now
	return j, true, nil
}

// execute runs a claimed job's handler and records the outcome.
func (r *Runner) execute(ctx context.Context, j Job) {
	var err error
	if j.Attempts > j.MaxAttempts {
		// Only a lease that ran out on the last attempt gets here.
		err = Permanent(errLeaseExpired)
	} else if h := r.handler(j.Kind); h == nil {
		err = fmt.Errorf("jobs: no handler for kind %s", j.Kind)
	} else {
		hctx, cancel := context.WithTimeout(ctx, r.timeout)
		err = runSafely(hctx, h, j)
		cancel()
	}
	r.settle(ctx, j, err)
}

// runSafely turns a handler's panic into an error, so one bad job cannot
// take the runner, and every other job, down with it.
func runSafely(ctx context.Context, h Handler, j Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errors.New("jobs: handler panicked")
		}
	}()
	return h.Run(ctx, j)
}

// settle records a run's outcome, provided this runner still holds the
// job's lease: matching lease_owner and attempts fences off a result that
// arrives after the lease ran out and another runner claimed the job.
func (r *Runner) settle(ctx context.Context, j Job, runErr error) {
	now := r.clock()
	state, runAt, msg := Done, j.RunAt, ""
	if runErr != nil {
		msg = errorText(runErr)
		if IsPermanent(runErr) || j.Attempts >= j.MaxAttempts {
			state = Dead
		} else {
			state, runAt = Queued, now.Add(r.backoff(j.Attempts))
		}
	}
	fin, _ := r.handler(j.Kind).(Finisher)
	err := r.db.Write(ctx, func(tx *sqlstore.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = $1, run_at = $2, last_error = $3,
				lease_owner = '', lease_until = 0, updated_at = $4
			WHERE id = $5 AND state = 'running' AND lease_owner = $6 AND attempts = $7`,
			string(state), sqlstore.Micros(runAt), msg, sqlstore.Micros(now), j.ID, r.owner, j.Attempts)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errLeaseLost
		}
		if fin != nil && state != Queued {
			return fin.Finish(ctx, tx, j, state)
		}
		return nil
	})
	attrs := []any{"job", j.ID, "kind", j.Kind, "attempt", j.Attempts}
	switch {
	case errors.Is(err, errLeaseLost):
		r.log.Warn("jobs: lease lost; another runner took the job over", attrs...)
	case err != nil:
		r.log.Error("jobs: recording the outcome failed; the job runs again when its lease ends",
			append(attrs, "state", string(state), "err", err)...)
	case state == Dead:
		r.log.Error("jobs: job is dead", append(attrs, "err", msg)...)
	case state == Queued:
		r.log.Warn("jobs: job failed; will retry", append(attrs, "err", msg, "run_at", runAt)...)
	default:
		r.log.Debug("jobs: job done", attrs...)
	}
}

// backoff is the delay before the retry that follows failed attempt n
// (1-based): base·2^(n-1), capped at max, minus a random part of up to
// half. Keeping at least half means retries never collapse to zero delay.
func (r *Runner) backoff(n int) time.Duration {
	d := r.base
	for i := 1; i < n && d < r.max; i++ {
		d *= 2
	}
	d = min(d, r.max)
	return d - time.Duration(r.rand(int64(d/2)+1))
}

// errorText is what last_error stores: the message, valid UTF-8, bounded.
func errorText(err error) string {
	s := strings.ToValidUTF8(err.Error(), "?")
	if len(s) <= maxErrorLen {
		return s
	}
	s = s[:maxErrorLen]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
