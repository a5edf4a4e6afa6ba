package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// maxBatch bounds how many callers share one SQLite transaction, so a
// batch's latency stays small even under heavy load.
const maxBatch = 256

// batcher is the single SQLite writer. Callers hand it jobs; it runs as many
// queued jobs as it can in one transaction, each in its own savepoint, and
// commits them together.
type batcher struct {
	// conn is the one connection every write runs on. It is held for the
	// batcher's lifetime so that per-connection settings (the synchronous
	// PRAGMA) apply to the connection that commits.
	conn  *sql.Conn
	stmts *stmtCache
	jobs  chan *job
	quit  chan struct{}
	done  chan struct{}

	closeOnce sync.Once
	mu        sync.RWMutex // held for reading while sending, for writing to close
	closed    bool
}

type job struct {
	ctx  context.Context
	dur  Durability
	fn   func(tx *Tx) error
	excl func(conn *sql.Conn) error // runs outside any transaction
	err  error
	done chan struct{}
}

func newBatcher(ctx context.Context, pool *sql.DB, stmts *stmtCache) (*batcher, error) {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("writer connection: %w", err)
	}
	b := &batcher{
		conn:  conn,
		stmts: stmts,
		jobs:  make(chan *job, maxBatch),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go b.loop()
	return b, nil
}

func (b *batcher) submit(ctx context.Context, j *job) error {
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrClosed
	}
	select {
	case b.jobs <- j:
	case <-ctx.Done():
		b.mu.RUnlock()
		return ctx.Err()
	}
	b.mu.RUnlock()
	// Once queued, the job runs to completion even if ctx ends: the caller
	// must learn whether it committed, so we wait for the answer.
	<-j.done
	return j.err
}

func (b *batcher) do(ctx context.Context, d Durability, fn func(tx *Tx) error) error {
	return b.submit(ctx, &job{ctx: ctx, dur: d, fn: fn, done: make(chan struct{})})
}

func (b *batcher) exclusive(ctx context.Context, fn func(conn *sql.Conn) error) error {
	return b.submit(ctx, &job{ctx: ctx, excl: fn, done: make(chan struct{})})
}

func (b *batcher) close() {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		close(b.quit)
		<-b.done
		b.conn.Close()
	})
}

func (b *batcher) loop() {
	defer close(b.done)
	var (
		batch   []*job
		sync    = Durable // the connection's current synchronous setting
		dirty   bool      // relaxed commits not yet on stable storage
		flush   = time.NewTimer(time.Hour)
		pending *job // an exclusive job found while collecting a batch
	)
	flush.Stop()
	for {
		batch = batch[:0]
		if pending != nil {
			batch = append(batch, pending)
			pending = nil
		} else {
			select {
			case j := <-b.jobs:
				batch = append(batch, j)
			case <-flush.C:
				if dirty {
					b.flushWAL()
					dirty = false
				}
				continue
			case <-b.quit:
				b.drain()
				if dirty {
					b.flushWAL()
				}
				return
			}
		}
		if batch[0].excl != nil {
			j := batch[0]
			j.err = j.excl(b.conn)
			close(j.done)
			continue
		}
	collect:
		for len(batch) < maxBatch {
			select {
			case j := <-b.jobs:
				if j.excl != nil {
					pending = j
					break collect
				}
				batch = append(batch, j)
			default:
				break collect
			}
		}
		want := Relaxed
		for _, j := range batch {
			if j.dur == Durable {
				want = Durable
				break
			}
		}
		if want != sync {
			mode := "FULL"
			if want == Relaxed {
				mode = "NORMAL"
			}
			if _, err := b.conn.ExecContext(context.Background(), "PRAGMA synchronous="+mode); err != nil {
				b.fail(batch, fmt.Errorf("set synchronous: %w", err))
				continue
			}
			sync = want
		}
		b.run(batch)
		if want == Relaxed {
			if !dirty {
				flush.Reset(RelaxedFlushInterval)
			}
			dirty = true
		} else {
			// A FULL commit fsyncs the whole WAL, earlier relaxed frames too.
			dirty = false
		}
	}
}

// drain answers queued jobs after close so no caller waits forever.
func (b *batcher) drain() {
	for {
		select {
		case j := <-b.jobs:
			j.err = ErrClosed
			close(j.done)
		default:
			return
		}
	}
}

// flushWAL makes relaxed commits durable: in WAL mode with
// synchronous=NORMAL, a checkpoint first fsyncs the WAL.
func (b *batcher) flushWAL() {
	b.conn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
}

func (b *batcher) fail(batch []*job, err error) {
	for _, j := range batch {
		j.err = err
		close(j.done)
	}
}

func (b *batcher) run(batch []*job) {
	// The transaction is not bound to any caller's context: one caller
	// giving up must not roll back the others.
	ctx := context.Background()
	tx, err := b.conn.BeginTx(ctx, nil)
	if err != nil {
		b.fail(batch, fmt.Errorf("begin: %w", err))
		return
	}
	t := &Tx{tx: tx, engine: SQLite, stmts: b.stmts}
	single := len(batch) == 1
	ok := 0
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.err = err
			continue
		}
		if single {
			j.err = call(t, j.fn)
		} else {
			var broken bool
			j.err, broken = runInSavepoint(ctx, t, j.fn)
			if broken {
				tx.Rollback()
				b.fail(batch, j.err)
				return
			}
		}
		if j.err == nil {
			ok++
		}
	}
	if ok == 0 {
		tx.Rollback()
	} else if err := tx.Commit(); err != nil {
		err = fmt.Errorf("commit: %w", err)
		for _, j := range batch {
			if j.err == nil {
				j.err = err
			}
		}
	}
	for _, j := range batch {
		close(j.done)
	}
}

// runInSavepoint runs fn so that its failure undoes only its own work.
// broken reports that the savepoint machinery itself failed, leaving the
// transaction in an unknown state: the whole batch must then be abandoned.
func runInSavepoint(ctx context.Context, t *Tx, fn func(tx *Tx) error) (err error, broken bool) {
	if _, err := t.tx.ExecContext(ctx, "SAVEPOINT job"); err != nil {
		return fmt.Errorf("savepoint: %w", err), true
	}
	err = call(t, fn)
	if err != nil {
		if _, rerr := t.tx.ExecContext(ctx, "ROLLBACK TO job"); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback to savepoint: %w", rerr)), true
		}
	}
	if _, rerr := t.tx.ExecContext(ctx, "RELEASE job"); rerr != nil {
		return errors.Join(err, fmt.Errorf("release savepoint: %w", rerr)), true
	}
	return err, false
}

// call runs fn, turning a panic into an error so the writer goroutine, which
// serves every caller, survives one caller's bug.
func call(t *Tx, fn func(tx *Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("write panicked: %v", p)
		}
	}()
	return fn(t)
}
