package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// maxBatch bounds how many writes share one transaction, as in gdprd's
// sqlstore, so that one batch's latency stays small under heavy load.
const maxBatch = 256

// schema is the whole database: one row per subject, the identifiers in
// plain text under unique indexes, the category data as one JSON blob.
const schema = `CREATE TABLE IF NOT EXISTS subjects (
	id          TEXT PRIMARY KEY,
	email       TEXT UNIQUE,
	external_id TEXT UNIQUE,
	phone       TEXT UNIQUE,
	data        BLOB NOT NULL,
	created_at  INTEGER NOT NULL
)`

// errDuplicate is the outcome of an insert that hit a unique index.
var errDuplicate = errors.New("duplicate identifier")

// errClosed answers writes submitted after close.
var errClosed = errors.New("store closed")

// row is one stored subject.
type row struct {
	ID         string
	Email      string
	ExternalID string
	Phone      string
	Data       []byte
	CreatedAt  int64
}

// store is SQLite in WAL mode with synchronous=FULL: one writer connection
// fed by a group-commit goroutine, and a pool of read-only connections.
type store struct {
	read   *sql.DB
	write  *sql.DB
	wconn  *sql.Conn
	get    *sql.Stmt // on the read pool
	lookup *sql.Stmt // on the read pool

	jobs chan *job
	quit chan struct{}
	done chan struct{}

	mu     sync.RWMutex // held for reading while submitting, for writing to close
	closed bool
}

// job is one write waiting for the group commit. Exactly one of insert and
// deleteID is set. The writer sets n (rows affected) and err, then closes
// done.
type job struct {
	insert   *row
	deleteID string
	n        int64
	err      error
	done     chan struct{}
}

// dsn builds a modernc.org/sqlite connection string with the same safety
// pragmas gdprd uses.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)"} {
		q.Add("_pragma", p)
	}
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + path + "?" + q.Encode()
}

// openStore opens (creating if needed) the database at path with the given
// number of reader connections, and starts the writer goroutine.
func openStore(ctx context.Context, path string, readers int) (*store, error) {
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &store{write: w, jobs: make(chan *job, maxBatch), quit: make(chan struct{}), done: make(chan struct{})}
	fail := func(err error) (*store, error) {
		s.closeDBs()
		return nil, err
	}
	if s.wconn, err = w.Conn(ctx); err != nil {
		return fail(fmt.Errorf("writer connection: %w", err))
	}
	if _, err := s.wconn.ExecContext(ctx, schema); err != nil {
		return fail(fmt.Errorf("create schema: %w", err))
	}
	var mode string
	if err := s.wconn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		return fail(fmt.Errorf("journal_mode is %q, want wal (%v)", mode, err))
	}

	if s.read, err = sql.Open("sqlite", dsn(path, true)); err != nil {
		return fail(err)
	}
	s.read.SetMaxOpenConns(readers)
	s.read.SetMaxIdleConns(readers)
	s.read.SetConnMaxLifetime(0)
	s.read.SetConnMaxIdleTime(0)
	const cols = "SELECT id, coalesce(email, ''), coalesce(external_id, ''), coalesce(phone, ''), data, created_at FROM subjects WHERE "
	if s.get, err = s.read.PrepareContext(ctx, cols+"id = ?"); err != nil {
		return fail(err)
	}
	if s.lookup, err = s.read.PrepareContext(ctx, cols+"email = ?"); err != nil {
		return fail(err)
	}
	go s.loop()
	return s, nil
}

// closeDBs releases whatever openStore or close left open.
func (s *store) closeDBs() {
	for _, st := range []*sql.Stmt{s.get, s.lookup} {
		if st != nil {
			st.Close()
		}
	}
	if s.wconn != nil {
		s.wconn.Close()
	}
	if s.read != nil {
		s.read.Close()
	}
	s.write.Close()
}

// close stops the writer after the batch in progress and closes the
// database. Writes submitted afterwards fail with errClosed.
func (s *store) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.done
	s.closeDBs()
}

// submit queues j for the writer and waits for its outcome. Once queued, a
// job runs to completion whatever ctx does: the caller must learn whether
// it committed.
func (s *store) submit(ctx context.Context, j *job) error {
	j.done = make(chan struct{})
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	select {
	case s.jobs <- j:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	<-j.done
	return j.err
}

// insert stores r durably; errDuplicate if an identifier is taken.
func (s *store) insert(ctx context.Context, r *row) error {
	return s.submit(ctx, &job{insert: r})
}

// remove deletes the subject durably and reports whether it existed.
func (s *store) remove(ctx context.Context, id string) (bool, error) {
	j := &job{deleteID: id}
	err := s.submit(ctx, j)
	return j.n > 0, err
}

// find runs one of the prepared single-row queries.
func (s *store) find(ctx context.Context, st *sql.Stmt, arg string) (*row, error) {
	var r row
	err := st.QueryRowContext(ctx, arg).Scan(&r.ID, &r.Email, &r.ExternalID, &r.Phone, &r.Data, &r.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// loop is the single writer: it takes every job that is already queued (up
// to maxBatch), runs them in one transaction and commits them with one
// fsync. A job that hits a unique index fails alone: SQLite aborts only the
// failing statement, not the transaction.
func (s *store) loop() {
	defer close(s.done)
	ctx := context.Background()
	ins, err := s.wconn.PrepareContext(ctx, "INSERT INTO subjects (id, email, external_id, phone, data, created_at) VALUES (?, nullif(?, ''), nullif(?, ''), nullif(?, ''), ?, ?)")
	if err != nil {
		s.drainWith(err)
		return
	}
	defer ins.Close()
	del, err := s.wconn.PrepareContext(ctx, "DELETE FROM subjects WHERE id = ?")
	if err != nil {
		s.drainWith(err)
		return
	}
	defer del.Close()

	batch := make([]*job, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case j := <-s.jobs:
			batch = append(batch, j)
		case <-s.quit:
			s.drainWith(errClosed)
			return
		}
	collect:
		for len(batch) < maxBatch {
			select {
			case j := <-s.jobs:
				batch = append(batch, j)
			default:
				break collect
			}
		}
		s.run(ctx, batch, ins, del)
	}
}

// run executes and commits one batch, then answers every job in it.
func (s *store) run(ctx context.Context, batch []*job, ins, del *sql.Stmt) {
	defer func() {
		for _, j := range batch {
			close(j.done)
		}
	}()
	if _, err := s.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		for _, j := range batch {
			j.err = fmt.Errorf("begin: %w", err)
		}
		return
	}
	ok := 0
	for _, j := range batch {
		var res sql.Result
		if j.insert != nil {
			r := j.insert
			res, j.err = ins.ExecContext(ctx, r.ID, r.Email, r.ExternalID, r.Phone, r.Data, r.CreatedAt)
			if isUniqueViolation(j.err) {
				j.err = errDuplicate
			}
		} else {
			res, j.err = del.ExecContext(ctx, j.deleteID)
		}
		if j.err == nil {
			j.n, _ = res.RowsAffected()
			ok++
		}
	}
	end := "COMMIT"
	if ok == 0 {
		end = "ROLLBACK"
	}
	if _, err := s.wconn.ExecContext(ctx, end); err != nil {
		// The transaction's fate is unknown to the callers that succeeded
		// inside it: report failure, and make sure it is gone.
		s.wconn.ExecContext(ctx, "ROLLBACK")
		for _, j := range batch {
			if j.err == nil {
				j.err = fmt.Errorf("commit: %w", err)
				j.n = 0
			}
		}
	}
}

// drainWith answers queued jobs with err so that no caller waits forever.
func (s *store) drainWith(err error) {
	for {
		select {
		case j := <-s.jobs:
			j.err = err
			close(j.done)
		case <-s.quit:
			for {
				select {
				case j := <-s.jobs:
					j.err = err
					close(j.done)
				default:
					return
				}
			}
		}
	}
}

// isUniqueViolation reports a unique or primary-key constraint failure.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}
