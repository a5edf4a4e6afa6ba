package jobs_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/jobs"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// fakeClock is a settable clock shared by a test and its runners.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// newFakeClock starts at the wall clock, so that jobs enqueued without a
// RunAt (which then means time.Now) are due at once.
func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Now().Truncate(time.Microsecond)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// noJitter makes backoff exact: the random part is always zero.
func noJitter(int64) int64 { return 0 }

// syncBuffer is a log sink that is safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newRunner returns a runner with a fake clock, exact backoff and a quick
// poll, unless opts says otherwise.
func newRunner(t *testing.T, db *sqlstore.DB, clock *fakeClock, opts jobs.Options) *jobs.Runner {
	t.Helper()
	if opts.Clock == nil && clock != nil {
		opts.Clock = clock.Now
	}
	if opts.Rand == nil {
		opts.Rand = noJitter
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 5 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(&syncBuffer{}, nil))
	}
	r, err := jobs.NewRunner(db, opts)
	if err != nil {
		t.Fatalf("NewRunner: %v", err)
	}
	return r
}

// enqueue adds one job in its own transaction and returns its ID.
func enqueue(t *testing.T, db *sqlstore.DB, j jobs.Job) string {
	t.Helper()
	var id string
	err := db.Write(context.Background(), func(tx *sqlstore.Tx) error {
		var err error
		id, err = jobs.Enqueue(context.Background(), tx, j)
		return err
	})
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return id
}

// getJob reads a job that must exist.
func getJob(t *testing.T, db *sqlstore.DB, id string) jobs.Job {
	t.Helper()
	j, err := jobs.Get(context.Background(), db.Read(), id)
	if err != nil {
		t.Fatalf("get job %s: %v", id, err)
	}
	return j
}

// countJobs counts the rows of the job table.
func countJobs(t *testing.T, db *sqlstore.DB) int {
	t.Helper()
	var n int
	if err := db.Read().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM jobs").Scan(&n); err != nil {
		t.Fatalf("count jobs: %v", err)
	}
	return n
}

// runDue runs every due job and checks how many ran.
func runDue(t *testing.T, r *jobs.Runner, want int) {
	t.Helper()
	n, err := r.RunDue(context.Background())
	if err != nil {
		t.Fatalf("RunDue: %v", err)
	}
	if n != want {
		t.Fatalf("RunDue ran %d jobs, want %d", n, want)
	}
}

// counter counts handler calls per job ID.
type counter struct {
	mu    sync.Mutex
	calls map[string]int
}

func newCounter() *counter { return &counter{calls: map[string]int{}} }

func (c *counter) add(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[id]++
}

func (c *counter) get(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[id]
}

func (c *counter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.calls))
	for k, v := range c.calls {
		m[k] = v
	}
	return m
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
