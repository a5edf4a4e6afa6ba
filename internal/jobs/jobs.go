// Package jobs is gdprd's durable background work: a job table in the main
// database, and a Runner that claims due jobs under a lease, runs the
// handler registered for their kind and retries failures with backoff.
// Mail, webhook delivery, deadline reminders, retention sweeps and breach
// detection all run on it.
//
// Jobs are enqueued inside the caller's write transaction, so a state
// change and the work it owes ("send the extension notice") commit
// together or not at all: no job for a change that rolled back, no change
// whose follow-up is lost in a crash.
//
// Delivery is at least once. A runner that dies mid-job leaves a lease that
// runs out, and another runner runs the job again, so handlers must be
// idempotent or tolerate a rare repeat (a mail sent twice).
//
// Job rows outlive the people they are about, and their payload and
// last error are stored in clear: neither may hold personal data. Work that
// needs personal data keeps it sealed in a table of its own, keyed by the
// job ID, as the mail outbox does. Handlers must likewise keep personal data
// out of the errors they return.
package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gdprd/gdprd/internal/ids"
	"regexp"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// DefaultMaxAttempts is how often a job runs before it is given up when
// Job.MaxAttempts is zero: with the default backoff (5 s doubling, at most
// an hour) that spans a little over two hours of retries.
const DefaultMaxAttempts = 10

// State is where a job is in its life.
type State string

const (
	// Queued jobs wait for their RunAt (a first run or a retry).
	Queued State = "queued"
	// Running jobs are held by a runner until their lease ends.
	Running State = "running"
	// Done jobs succeeded.
	Done State = "done"
	// Dead jobs failed permanently or ran out of attempts.
	Dead State = "dead"
)

// Job is one unit of background work.
type Job struct {
	// ID is assigned by Enqueue.
	ID string
	// Kind selects the handler ("mail.send").
	Kind string
	// Payload is the handler's input, as JSON; never personal data.
	// Empty means {}.
	Payload json.RawMessage
	// RunAt is the earliest time the job may run; zero means now.
	// Callers with an injected clock pass its time.
	RunAt time.Time
	// MaxAttempts bounds how often the job runs; zero means
	// DefaultMaxAttempts.
	MaxAttempts int
	// UniqueKey, when set, makes the job unique: enqueueing another job
	// with the same key returns the existing one (see EnqueueUnique).
	UniqueKey string

	// The fields below are set when a job is read back or handed to a
	// handler, and ignored by Enqueue.

	State State
	// Attempts counts the runs so far; a handler sees its own run counted
	// (1 on the first run).
	Attempts int
	// LastError is the error of the latest failed run, "" after success.
	LastError string
	// CreatedAt is the wall-clock time of Enqueue; UpdatedAt follows the
	// runner's clock.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// kindPattern keeps kinds short and unmistakably not personal data (no
// "@", no spaces), since they are stored and logged in clear.
var kindPattern = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,63}$`)

// maxUniqueKey bounds unique keys; they are identifiers, not content.
const maxUniqueKey = 200

// Enqueue adds j to the job table inside the caller's transaction and
// returns its ID. If j.UniqueKey is set and a job with that key already
// exists, nothing is added and the existing job's ID is returned.
func Enqueue(ctx context.Context, tx *sqlstore.Tx, j Job) (string, error) {
	id, _, err := insert(ctx, tx, j)
	return id, err
}

// EnqueueUnique adds j under a de-duplication key: the first call with a
// key adds the job (created is true), later calls return the same job's ID
// whatever its state. Periodic work uses one key per period
// ("retention-sweep:2025-06-01"), so every replica may enqueue it and it
// still runs once. The database, not a check in code, keeps keys unique.
func EnqueueUnique(ctx context.Context, tx *sqlstore.Tx, key string, j Job) (id string, created bool, err error) {
	if key == "" {
		return "", false, errcode.Field("unique_key", "a unique key is required")
	}
	j.UniqueKey = key
	return insert(ctx, tx, j)
}

func insert(ctx context.Context, tx *sqlstore.Tx, j Job) (string, bool, error) {
	if !kindPattern.MatchString(j.Kind) {
		return "", false, errcode.Field("kind", "job kind must be 1-64 lower-case letters, digits, '.', '_' or '-'")
	}
	if len(j.UniqueKey) > maxUniqueKey {
		return "", false, errcode.Field("unique_key", "unique key is longer than %d bytes", maxUniqueKey)
	}
	if j.MaxAttempts < 0 {
		return "", false, errcode.Field("max_attempts", "max attempts must not be negative")
	}
	if j.MaxAttempts == 0 {
		j.MaxAttempts = DefaultMaxAttempts
	}
	payload := "{}"
	if len(j.Payload) > 0 {
		if !json.Valid(j.Payload) {
			return "", false, errcode.Field("payload", "job payload is not valid JSON")
		}
		payload = string(j.Payload)
	}
	now := time.Now()
	if j.RunAt.IsZero() {
		j.RunAt = now
	}
	var unique any // NULL unless set, so that keyless jobs never collide
	if j.UniqueKey != "" {
		unique = j.UniqueKey
	}
	id := ids.New("job_")
	res, err := tx.ExecContext(ctx, `INSERT INTO jobs
		(id, kind, payload, unique_key, state, run_at, max_attempts, created_at, updated_at)
		VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $7)
		ON CONFLICT (unique_key) DO NOTHING`,
		id, j.Kind, payload, unique, sqlstore.Micros(j.RunAt), j.MaxAttempts, sqlstore.Micros(now))
	if err != nil {
		return "", false, fmt.Errorf("enqueue %s job: %w", j.Kind, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return "", false, fmt.Errorf("enqueue %s job: %w", j.Kind, err)
	}
	if n == 1 {
		return id, true, nil
	}
	// The key is taken. Under PostgreSQL's READ COMMITTED this statement
	// sees the row that made the insert do nothing, even if it committed
	// after our transaction began.
	var existing string
	if err := tx.QueryRowContext(ctx, "SELECT id FROM jobs WHERE unique_key = $1", j.UniqueKey).Scan(&existing); err != nil {
		return "", false, fmt.Errorf("enqueue %s job: find existing: %w", j.Kind, err)
	}
	return existing, false, nil
}

// Get reads one job, for tests and operator tools.
func Get(ctx context.Context, q sqlstore.Querier, id string) (Job, error) {
	row := q.QueryRowContext(ctx, `SELECT id, kind, payload, unique_key, state, run_at,
		attempts, max_attempts, last_error, created_at, updated_at FROM jobs WHERE id = $1`, id)
	var (
		j                       Job
		payload                 string
		unique                  sql.NullString
		runAt, created, updated int64
	)
	err := row.Scan(&j.ID, &j.Kind, &payload, &unique, &j.State, &runAt,
		&j.Attempts, &j.MaxAttempts, &j.LastError, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, errcode.E(errcode.NotFound, "no such job")
	}
	if err != nil {
		return Job{}, fmt.Errorf("get job: %w", err)
	}
	j.Payload = json.RawMessage(payload)
	j.UniqueKey = unique.String
	j.RunAt, j.CreatedAt, j.UpdatedAt = sqlstore.FromMicros(runAt), sqlstore.FromMicros(created), sqlstore.FromMicros(updated)
	return j, nil
}

// Permanent marks a handler's error as one that retrying cannot fix (a
// recipient the mail server rejects, a payload that no longer decrypts):
// the job goes straight to dead instead of using up its attempts.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether err, or an error it wraps, came from
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
