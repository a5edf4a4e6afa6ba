package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/jobs"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

func TestEnqueueCommitsWithTheCallersTransaction(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := context.Background()
		db := sqltest.Open(t, e, "main")
		errRollback := errors.New("the state change failed")
		var id string
		err := db.Write(ctx, func(tx *sqlstore.Tx) error {
			var err error
			if id, err = jobs.Enqueue(ctx, tx, jobs.Job{Kind: "notify"}); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("Write = %v, want the callback's error", err)
		}
		if n := countJobs(t, db); n != 0 {
			t.Fatalf("%d jobs after a rolled-back enqueue, want 0", n)
		}
		if _, err := jobs.Get(ctx, db.Read(), id); errcode.Of(err) != errcode.NotFound {
			t.Fatalf("Get after rollback = %v, want not_found", err)
		}

		id = enqueue(t, db, jobs.Job{Kind: "notify", Payload: json.RawMessage(`{"request":"r1"}`)})
		j := getJob(t, db, id)
		if j.State != jobs.Queued || j.Kind != "notify" || string(j.Payload) != `{"request":"r1"}` ||
			j.Attempts != 0 || j.MaxAttempts != jobs.DefaultMaxAttempts {
			t.Fatalf("committed job = %+v", j)
		}
	})
}

func TestEnqueueUniqueDeduplicates(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		ctx := context.Background()
		db := sqltest.Open(t, e, "main")
		enqueueUnique := func(t *testing.T, key string) (string, bool) {
			t.Helper()
			var id string
			var created bool
			err := db.Write(ctx, func(tx *sqlstore.Tx) error {
				var err error
				id, created, err = jobs.EnqueueUnique(ctx, tx, key, jobs.Job{Kind: "sweep"})
				return err
			})
			if err != nil {
				t.Fatalf("EnqueueUnique(%q): %v", key, err)
			}
			return id, created
		}

		first, created := enqueueUnique(t, "sweep:2025-06-01")
		if !created {
			t.Fatal("first EnqueueUnique did not create a job")
		}
		t.Run("same key again", func(t *testing.T) {
			id, created := enqueueUnique(t, "sweep:2025-06-01")
			if created || id != first {
				t.Fatalf("second EnqueueUnique = (%s, %v), want (%s, false)", id, created, first)
			}
		})
		t.Run("same key twice in one transaction", func(t *testing.T) {
			var ids [2]string
			err := db.Write(ctx, func(tx *sqlstore.Tx) error {
				for i := range ids {
					var err error
					if ids[i], err = jobs.Enqueue(ctx, tx, jobs.Job{Kind: "sweep", UniqueKey: "sweep:2025-06-02"}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if ids[0] != ids[1] {
				t.Fatalf("Enqueue with one key gave two jobs %v", ids)
			}
		})
		t.Run("key of a finished job", func(t *testing.T) {
			r := newRunner(t, db, nil, jobs.Options{})
			r.Register("sweep", jobs.HandlerFunc(func(context.Context, jobs.Job) error { return nil }))
			if _, err := r.RunDue(ctx); err != nil {
				t.Fatal(err)
			}
			if s := getJob(t, db, first).State; s != jobs.Done {
				t.Fatalf("job state %s, want done", s)
			}
			if id, created := enqueueUnique(t, "sweep:2025-06-01"); created || id != first {
				t.Fatalf("EnqueueUnique after the job ran = (%s, %v), want (%s, false)", id, created, first)
			}
		})
		if n := countJobs(t, db); n != 2 {
			t.Fatalf("%d jobs, want 2 (one per key)", n)
		}
		if got := getJob(t, db, first).UniqueKey; got != "sweep:2025-06-01" {
			t.Fatalf("UniqueKey = %q", got)
		}
	})
}

func TestEnqueueRefusesInvalidJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqltest.Open(t, sqlstore.SQLite, "main")
	tests := []struct {
		name  string
		job   jobs.Job
		field string
	}{
		{"no kind", jobs.Job{}, "kind"},
		{"kind with an address", jobs.Job{Kind: "mail.to.ann@example.com"}, "kind"},
		{"kind with upper case", jobs.Job{Kind: "Mail"}, "kind"},
		{"payload not JSON", jobs.Job{Kind: "k", Payload: json.RawMessage(`{"a":`)}, "payload"},
		{"negative attempts", jobs.Job{Kind: "k", MaxAttempts: -1}, "max_attempts"},
		{"long unique key", jobs.Job{Kind: "k", UniqueKey: strings.Repeat("x", 201)}, "unique_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.Write(ctx, func(tx *sqlstore.Tx) error {
				_, err := jobs.Enqueue(ctx, tx, tt.job)
				return err
			})
			ce, ok := errcode.As(err)
			if !ok || ce.Code != errcode.Invalid || ce.Field != tt.field {
				t.Fatalf("Enqueue = %v, want invalid %s", err, tt.field)
			}
		})
	}
	t.Run("EnqueueUnique without a key", func(t *testing.T) {
		err := db.Write(ctx, func(tx *sqlstore.Tx) error {
			_, _, err := jobs.EnqueueUnique(ctx, tx, "", jobs.Job{Kind: "k"})
			return err
		})
		if errcode.Of(err) != errcode.Invalid {
			t.Fatalf("EnqueueUnique(\"\") = %v, want invalid", err)
		}
	})
	if n := countJobs(t, db); n != 0 {
		t.Fatalf("%d jobs after refused enqueues", n)
	}
}
