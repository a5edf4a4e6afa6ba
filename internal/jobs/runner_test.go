package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/jobs"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

func TestConcurrentRunnersRunEachJobOnce(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		const numJobs, numRunners = 60, 3
		// Three handles on one database, as three replicas would have.
		url := sqltest.URL(t, e, "main")
		var dbs []*sqlstore.DB
		for range numRunners {
			db, err := sqlstore.Open(context.Background(), sqlstore.Options{URL: url, Set: "main"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			dbs = append(dbs, db)
		}
		ids := make(map[string]bool)
		for i := range numJobs {
			ids[enqueue(t, dbs[i%numRunners], jobs.Job{Kind: "work"})] = true
		}

		calls := newCounter()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		for i, db := range dbs {
			r := newRunner(t, db, nil, jobs.Options{Owner: fmt.Sprintf("replica-%d", i), Workers: 4, PollInterval: time.Millisecond})
			r.Register("work", jobs.HandlerFunc(func(ctx context.Context, j jobs.Job) error {
				calls.add(j.ID)
				time.Sleep(time.Millisecond) // overlap the runners' claims
				return nil
			}))
			wg.Go(func() {
				if err := r.Run(ctx); err != nil {
					t.Errorf("Run: %v", err)
				}
			})
		}
		waitFor(t, "every job done", 20*time.Second, func() bool {
			var n int
			err := dbs[0].Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM jobs WHERE state = 'done'").Scan(&n)
			return err == nil && n == numJobs
		})
		cancel()
		wg.Wait()

		got := calls.snapshot()
		if len(got) != numJobs {
			t.Errorf("handler saw %d distinct jobs, want %d", len(got), numJobs)
		}
		for id, n := range got {
			if !ids[id] {
				t.Errorf("handler ran unknown job %s", id)
			}
			if n != 1 {
				t.Errorf("job %s ran %d times, want once", id, n)
			}
		}
	})
}

func TestRetriesBackOffExponentially(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		db := sqltest.Open(t, e, "main")
		clock := newFakeClock()
		r := newRunner(t, db, clock, jobs.Options{})
		calls := newCounter()
		r.Register("flaky", jobs.HandlerFunc(func(ctx context.Context, j jobs.Job) error {
			calls.add(j.ID)
			if j.Attempts < 4 {
				return fmt.Errorf("upstream busy (attempt %d)", j.Attempts)
			}
			return nil
		}))
		id := enqueue(t, db, jobs.Job{Kind: "flaky", RunAt: clock.Now()})

		// Attempt n fails and the retry waits 5 s · 2^(n-1).
		for n, delay := range []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second} {
			runDue(t, r, 1)
			j := getJob(t, db, id)
			wantErr := fmt.Sprintf("upstream busy (attempt %d)", n+1)
			if j.State != jobs.Queued || j.Attempts != n+1 || j.LastError != wantErr {
				t.Fatalf("after attempt %d: state %s, attempts %d, last error %q", n+1, j.State, j.Attempts, j.LastError)
			}
			if want := clock.Now().Add(delay); !j.RunAt.Equal(want) {
				t.Fatalf("after attempt %d: retry at +%s, want +%s", n+1, j.RunAt.Sub(clock.Now()), delay)
			}
			clock.Advance(delay - time.Microsecond)
			runDue(t, r, 0) // not yet
			clock.Advance(time.Microsecond)
		}
		runDue(t, r, 1)
		j := getJob(t, db, id)
		if j.State != jobs.Done || j.Attempts != 4 || j.LastError != "" {
			t.Fatalf("after the 4th attempt: state %s, attempts %d, last error %q", j.State, j.Attempts, j.LastError)
		}
		if n := calls.get(id); n != 4 {
			t.Fatalf("handler ran %d times, want 4", n)
		}
	})
}

func TestJobDiesAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		db := sqltest.Open(t, e, "main")
		clock := newFakeClock()
		logs := &syncBuffer{}
		r := newRunner(t, db, clock, jobs.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
		calls := newCounter()
		r.Register("doomed", jobs.HandlerFunc(func(ctx context.Context, j jobs.Job) error {
			calls.add(j.ID)
			return errors.New("always fails")
		}))
		id := enqueue(t, db, jobs.Job{Kind: "doomed", RunAt: clock.Now(), MaxAttempts: 3})
		for range 3 {
			runDue(t, r, 1)
			clock.Advance(time.Hour)
		}
		j := getJob(t, db, id)
		if j.State != jobs.Dead || j.Attempts != 3 || j.LastError != "always fails" {
			t.Fatalf("job = state %s, attempts %d, last error %q; want dead after 3", j.State, j.Attempts, j.LastError)
		}
		clock.Advance(24 * time.Hour)
		runDue(t, r, 0)
		if n := calls.get(id); n != 3 {
			t.Fatalf("handler ran %d times, want 3", n)
		}
		if !strings.Contains(logs.String(), "job is dead") {
			t.Errorf("no log line for the dead job:\n%s", logs)
		}
	})
}

func TestPermanentErrorDiesAtOnce(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		db := sqltest.Open(t, e, "main")
		clock := newFakeClock()
		r := newRunner(t, db, clock, jobs.Options{})
		r.Register("hopeless", jobs.HandlerFunc(func(ctx context.Context, j jobs.Job) error {
			return fmt.Errorf("rejected: %w", jobs.Permanent(errors.New("550")))
		}))
		id := enqueue(t, db, jobs.Job{Kind: "hopeless", RunAt: clock.Now(), MaxAttempts: 5})
		runDue(t, r, 1)
		clock.Advance(time.Hour)
		runDue(t, r, 0)
		if j := getJob(t, db, id); j.State != jobs.Dead || j.Attempts != 1 || j.LastError != "rejected: 550" {
			t.Fatalf("job = state %s, attempts %d, last error %q; want dead after 1", j.State, j.Attempts, j.LastError)
		}
	})
}

func TestHandlerFailuresAreRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler jobs.HandlerFunc
		wantErr string
	}{
		{"panic", func(context.Context, jobs.Job) error { panic("bug") }, "jobs: handler panicked"},
		{"deadline", func(ctx context.Context, _ jobs.Job) error {
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("no deadline")
			}
			<-ctx.Done()
			return ctx.Err()
		}, context.DeadlineExceeded.Error()},
	}
	db := sqltest.Open(t, sqlstore.SQLite, "main")
	clock := newFakeClock()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t, db, clock, jobs.Options{Timeout: 20 * time.Millisecond})
			r.Register(tt.name, tt.handler)
			id := enqueue(t, db, jobs.Job{Kind: tt.name, RunAt: clock.Now()})
			runDue(t, r, 1)
			if j := getJob(t, db, id); j.State != jobs.Queued || j.Attempts != 1 || j.LastError != tt.wantErr {
				t.Fatalf("job = state %s, attempts %d, last error %q; want queued with %q", j.State, j.Attempts, j.LastError, tt.wantErr)
			}
		})
	}
}

// blocker is a handler that signals when it starts and then waits to be
// released, standing in for a runner that hangs or has died.
type blocker struct {
	started chan struct{}
	release chan struct{}
	result  error
}

func newBlocker(result error) *blocker {
	return &blocker{started: make(chan struct{}), release: make(chan struct{}), result: result}
}

func (b *blocker) Run(ctx context.Context, j jobs.Job) error {
	close(b.started)
	<-b.release
	return b.result
}

func TestExpiredLeaseIsTakenOver(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := context.Background()
		db := sqltest.Open(t, e, "main")
		clock := newFakeClock()
		opts := jobs.Options{Timeout: time.Minute, Lease: 2 * time.Minute}

		opts.Owner = "stuck"
		stuck := newRunner(t, db, clock, opts)
		hung := newBlocker(errors.New("late failure from the stuck runner"))
		stuck.Register("work", hung)

		opts.Owner = "healthy"
		healthy := newRunner(t, db, clock, opts)
		calls := newCounter()
		healthy.Register("work", jobs.HandlerFunc(func(ctx context.Context, j jobs.Job) error {
			calls.add(j.ID)
			return nil
		}))

		id := enqueue(t, db, jobs.Job{Kind: "work", RunAt: clock.Now()})
		done := make(chan error, 1)
		go func() {
			_, err := stuck.RunDue(ctx)
			done <- err
		}()
		<-hung.started

		runDue(t, healthy, 0) // the lease holds
		clock.Advance(2*time.Minute - time.Microsecond)
		runDue(t, healthy, 0)
		clock.Advance(time.Microsecond)
		runDue(t, healthy, 1) // the lease has run out
		if j := getJob(t, db, id); j.State != jobs.Done || j.Attempts != 2 || calls.get(id) != 1 {
			t.Fatalf("after takeover: state %s, attempts %d, healthy runs %d", j.State, j.Attempts, calls.get(id))
		}

		// The stuck runner comes back; its result must not overwrite.
		close(hung.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if j := getJob(t, db, id); j.State != jobs.Done || j.LastError != "" {
			t.Fatalf("the stuck runner's late result was recorded: state %s, last error %q", j.State, j.LastError)
		}
	})
}

func TestExpiredLeaseOnLastAttemptIsDead(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := context.Background()
		db := sqltest.Open(t, e, "main")
		clock := newFakeClock()
		stuck := newRunner(t, db, clock, jobs.Options{Owner: "stuck"})
		hung := newBlocker(nil)
		stuck.Register("work", hung)
		healthy := newRunner(t, db, clock, jobs.Options{Owner: "healthy"})
		calls := newCounter()
		healthy.Register("work", jobs.HandlerFunc(func(ctx context.Context, j jobs.Job) error {
			calls.add(j.ID)
			return nil
		}))

		id := enqueue(t, db, jobs.Job{Kind: "work", RunAt: clock.Now(), MaxAttempts: 1})
		done := make(chan error, 1)
		go func() {
			_, err := stuck.RunDue(ctx)
			done <- err
		}()
		<-hung.started
		clock.Advance(time.Hour)
		runDue(t, healthy, 1)
		j := getJob(t, db, id)
		if j.State != jobs.Dead || !strings.Contains(j.LastError, "lease expired") || calls.get(id) != 0 {
			t.Fatalf("job = state %s, last error %q, runs %d; want dead without running again", j.State, j.LastError, calls.get(id))
		}
		close(hung.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if j := getJob(t, db, id); j.State != jobs.Dead {
			t.Fatalf("the stuck runner's late success was recorded: state %s", j.State)
		}
	})
}

func TestRunWaitsForHandlersInFlight(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		db := sqltest.Open(t, e, "main")
		r := newRunner(t, db, nil, jobs.Options{})
		slow := newBlocker(nil)
		r.Register("slow", slow)
		id := enqueue(t, db, jobs.Job{Kind: "slow"})

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		<-slow.started
		cancel()
		select {
		case err := <-done:
			t.Fatalf("Run returned (%v) while a handler was running", err)
		case <-time.After(50 * time.Millisecond):
		}
		close(slow.release)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its handler finished")
		}
		if s := getJob(t, db, id).State; s != jobs.Done {
			t.Fatalf("job state %s after a graceful stop, want done", s)
		}
	})
}

func TestOnlyRegisteredKindsAreClaimed(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		db := sqltest.Open(t, e, "main")
		clock := newFakeClock()
		r := newRunner(t, db, clock, jobs.Options{})
		r.Register("known", jobs.HandlerFunc(func(context.Context, jobs.Job) error { return nil }))
		known := enqueue(t, db, jobs.Job{Kind: "known", RunAt: clock.Now()})
		unknown := enqueue(t, db, jobs.Job{Kind: "newer.kind", RunAt: clock.Now()})
		later := enqueue(t, db, jobs.Job{Kind: "known", RunAt: clock.Now().Add(time.Minute)})
		runDue(t, r, 1)
		if s := getJob(t, db, known).State; s != jobs.Done {
			t.Errorf("known job: state %s, want done", s)
		}
		if j := getJob(t, db, unknown); j.State != jobs.Queued || j.Attempts != 0 {
			t.Errorf("job of an unregistered kind: state %s, attempts %d; want untouched", j.State, j.Attempts)
		}
		if j := getJob(t, db, later); j.State != jobs.Queued || j.Attempts != 0 {
			t.Errorf("job not yet due: state %s, attempts %d; want untouched", j.State, j.Attempts)
		}
	})
}

// followUp is a Finisher that enqueues a follow-up job in the transaction
// that records the outcome, and can be told to fail there.
type followUp struct {
	runErr    error
	finishErr error
	mu        sync.Mutex
	finals    []jobs.State
}

func (f *followUp) Run(context.Context, jobs.Job) error { return f.runErr }

func (f *followUp) Finish(ctx context.Context, tx *sqlstore.Tx, j jobs.Job, final jobs.State) error {
	f.mu.Lock()
	f.finals = append(f.finals, final)
	f.mu.Unlock()
	if _, err := jobs.Enqueue(ctx, tx, jobs.Job{Kind: "after", UniqueKey: "after:" + j.ID}); err != nil {
		return err
	}
	return f.finishErr
}

func TestFinisherSharesTheOutcomeTransaction(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		// Fresh handlers per engine: they remember what they saw.
		tests := []struct {
			name       string
			h          *followUp
			wantState  jobs.State
			wantFinals []jobs.State
			wantAfter  bool
		}{
			{"success", &followUp{}, jobs.Done, []jobs.State{jobs.Done}, true},
			{"permanent failure", &followUp{runErr: jobs.Permanent(errors.New("no"))}, jobs.Dead, []jobs.State{jobs.Dead}, true},
			{"retry", &followUp{runErr: errors.New("later")}, jobs.Queued, nil, false},
			{"finish fails", &followUp{finishErr: errors.New("disk full")}, jobs.Running, []jobs.State{jobs.Done}, false},
		}
		db := sqltest.Open(t, e, "main")
		clock := newFakeClock()
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// One kind per case, so each runner sees only its job.
				kind := fmt.Sprintf("first%d", i)
				r := newRunner(t, db, clock, jobs.Options{})
				r.Register(kind, tt.h)
				id := enqueue(t, db, jobs.Job{Kind: kind, RunAt: clock.Now()})
				runDue(t, r, 1)
				if s := getJob(t, db, id).State; s != tt.wantState {
					t.Fatalf("job state %s, want %s", s, tt.wantState)
				}
				if fmt.Sprint(tt.h.finals) != fmt.Sprint(tt.wantFinals) {
					t.Fatalf("Finish saw %v, want %v", tt.h.finals, tt.wantFinals)
				}
				var n int
				if err := db.Read().QueryRowContext(context.Background(),
					"SELECT COUNT(*) FROM jobs WHERE unique_key = $1", "after:"+id).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if got := n == 1; got != tt.wantAfter {
					t.Fatalf("%d follow-up jobs, want present=%v", n, tt.wantAfter)
				}
			})
		}
	})
}

func TestRunWithoutHandlersFails(t *testing.T) {
	t.Parallel()
	db := sqltest.Open(t, sqlstore.SQLite, "main")
	r := newRunner(t, db, nil, jobs.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := r.Run(ctx); err == nil {
		t.Fatal("Run without handlers = nil, want an error")
	}
}

func TestNewRunnerRefusesALeaseShorterThanTheTimeout(t *testing.T) {
	t.Parallel()
	if _, err := jobs.NewRunner(nil, jobs.Options{Timeout: time.Minute, Lease: time.Minute}); err == nil {
		t.Fatal("NewRunner accepted a lease no longer than the handler timeout")
	}
}
