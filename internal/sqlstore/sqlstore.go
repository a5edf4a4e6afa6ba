// Package sqlstore is gdprd's one database layer: the same hand-written SQL
// runs on embedded SQLite (the default) and on PostgreSQL (for operators who
// grow or run several replicas).
//
// Reads go through a pool of read-only connections. Writes go through Write,
// which on SQLite funnels every transaction into a single writer goroutine that
// batches concurrent callers into one group commit: each caller's work runs in
// its own savepoint, so one caller's failure (a duplicate e-mail, say) rolls
// back only that caller, while the whole batch shares one fsync. That is how
// synchronous=FULL durability and throughput coexist. On PostgreSQL each Write
// is an ordinary transaction; the server already groups WAL flushes.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Engine names the database technology behind a DB.
type Engine int

const (
	SQLite Engine = iota
	Postgres
)

func (e Engine) String() string {
	if e == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// Querier is what read code needs; *sql.DB and *Tx both satisfy it, so a
// query helper can run inside or outside a write transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Durability says how long a write may wait before it is on stable storage.
type Durability int

const (
	// Durable writes are on disk (fsynced) before Write returns. The default
	// for every state change.
	Durable Durability = iota
	// Relaxed writes are committed (visible, and surviving a crash of
	// gdprd) before Write returns, and reach stable storage within
	// RelaxedFlushInterval or at the next durable commit, whichever comes
	// first. Only for records that describe a read, such as the audit event
	// of a lookup; never for a state change.
	Relaxed
)

// RelaxedFlushInterval bounds how long a relaxed commit may sit unsynced.
const RelaxedFlushInterval = 200 * time.Millisecond

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("sqlstore: closed")

// DB is one database (the main store or the key store).
type DB struct {
	engine Engine
	set    string
	write  *sql.DB
	read   *sql.DB
	batch  *batcher // SQLite only
	path   string   // SQLite file path
	// Statement caches of the SQLite pools; nil on PostgreSQL.
	readStmts, writeStmts *stmtCache
}

// Options configure Open.
type Options struct {
	// URL is a postgres:// URL, or a file path (optionally file:…) for SQLite.
	URL string
	// Set names the migration set: "main" or "keys".
	Set string
	// Readers is the size of the SQLite read pool (default 4).
	Readers int
}

// IsPostgresURL reports whether url selects the PostgreSQL engine.
func IsPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// Open connects to the database and applies pending migrations of opts.Set.
func Open(ctx context.Context, opts Options) (*DB, error) {
	if opts.Set == "" {
		opts.Set = "main"
	}
	if _, err := migrationDir(opts.Set, SQLite); err != nil {
		return nil, err
	}
	var db *DB
	var err error
	if IsPostgresURL(opts.URL) {
		db, err = openPostgres(opts)
	} else {
		db, err = openSQLite(opts)
	}
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if db.engine == SQLite {
		if db.batch, err = newBatcher(ctx, db.write, db.writeStmts); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

func openPostgres(opts Options) (*DB, error) {
	w, err := sql.Open("pgx", opts.URL)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	w.SetMaxOpenConns(32)
	w.SetMaxIdleConns(32)
	w.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{engine: Postgres, set: opts.Set, write: w, read: w}, nil
}

func openSQLite(opts Options) (*DB, error) {
	path := strings.TrimPrefix(opts.URL, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		return nil, errors.New("open sqlite: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// Every connection gets the same safety pragmas; synchronous=FULL means
	// an acknowledged commit survives power loss (the WAL is fsynced at
	// each commit); secure_delete overwrites freed content so erased rows
	// do not linger in free pages.
	pragmas := []string{
		"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)",
		"foreign_keys(1)", "secure_delete(1)", "temp_store(MEMORY)",
		// No mmap_size: with a write (an audit event) beside most reads,
		// SQLite drops and remaps the mapping at nearly every read
		// transaction, and munmap cost more than the pread it saves.
	}
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// Two writer-pool connections: the batcher holds one for every write;
	// the other only prepares statements for the cache while a
	// transaction holds the first (database/sql then re-prepares them on
	// the writer's connection once and keeps them there).
	w.SetMaxOpenConns(2)
	w.SetMaxIdleConns(2)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Readers begin deferred transactions (a read never takes the write
	// lock) and refuse writes.
	q.Del("_txlock")
	q.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	n := opts.Readers
	if n <= 0 {
		n = 4
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	if err := w.Ping(); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return &DB{engine: SQLite, set: opts.Set, write: w, read: r, path: path,
		readStmts: newStmtCache(r), writeStmts: newStmtCache(w)}, nil
}

// Engine reports the database technology.
func (db *DB) Engine() Engine { return db.engine }

// Path is the SQLite database file ("" on PostgreSQL).
func (db *DB) Path() string { return db.path }

// Read is the pool for queries outside a write transaction.
func (db *DB) Read() Querier {
	if db.readStmts != nil {
		return cachedDB{db: db.read, cache: db.readStmts}
	}
	return db.read
}

// ReadTx runs fn in one read-only transaction, so several queries share
// one snapshot and one set of locks (on SQLite each standalone query takes
// its own locks and refills its page cache after any write).
func (db *DB) ReadTx(ctx context.Context, fn func(q Querier) error) error {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: db.engine == Postgres})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(&Tx{tx: tx, engine: db.engine, stmts: db.readStmts})
}

// Ping checks that the database answers, for readiness probes.
func (db *DB) Ping(ctx context.Context) error { return db.read.PingContext(ctx) }

// Write runs fn in a durable transaction: either everything fn did is
// committed and on stable storage when Write returns nil, or nothing is.
func (db *DB) Write(ctx context.Context, fn func(tx *Tx) error) error {
	return db.WriteWith(ctx, Durable, fn)
}

// WriteWith is Write with an explicit durability.
func (db *DB) WriteWith(ctx context.Context, d Durability, fn func(tx *Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if db.engine == SQLite {
		return db.batch.do(ctx, d, fn)
	}
	return db.writePostgres(ctx, d, fn)
}

func (db *DB) writePostgres(ctx context.Context, d Durability, fn func(tx *Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if d == Relaxed {
		if _, err := tx.ExecContext(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
			tx.Rollback()
			return fmt.Errorf("relax commit: %w", err)
		}
	}
	if err := fn(&Tx{tx: tx, engine: Postgres}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Checkpoint folds the SQLite WAL back into the database file and truncates
// it, so that erased content no longer lingers in the WAL. No-op on
// PostgreSQL.
func (db *DB) Checkpoint(ctx context.Context) error {
	if db.engine != SQLite {
		return nil
	}
	return db.batch.exclusive(ctx, func(conn *sql.Conn) error {
		_, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
		return err
	})
}

// Close stops the writer (after it finishes queued work) and closes pools.
func (db *DB) Close() error {
	if db.batch != nil {
		db.batch.close()
	}
	if db.readStmts != nil {
		db.readStmts.close()
		db.writeStmts.close()
	}
	err := db.write.Close()
	if db.read != db.write {
		if rerr := db.read.Close(); err == nil {
			err = rerr
		}
	}
	return err
}

// Tx is a write transaction handed to a Write callback. It deliberately has
// no Commit or Rollback: returning an error from the callback rolls back.
type Tx struct {
	tx     *sql.Tx
	engine Engine
	stmts  *stmtCache // SQLite: the writer's statement cache
}

// stmt returns the cached statement for query bound to this transaction,
// or nil to run the query unprepared (the first time; the cache is warmed
// in the background, never while this transaction holds its connection).
func (t *Tx) stmt(ctx context.Context, query string) *sql.Stmt {
	if t.stmts == nil {
		return nil
	}
	if st := t.stmts.lookup(query); st != nil {
		return t.tx.StmtContext(ctx, st)
	}
	t.stmts.warm(query)
	return nil
}

// Engine reports the database technology, for the rare engine-specific query.
func (t *Tx) Engine() Engine { return t.engine }

func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

// IsUniqueViolation reports whether err is a unique or primary-key
// constraint failure on either engine; callers map it to a conflict.
func IsUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return false
}

// Now is the storage representation of a time: Unix microseconds, an
// integer on both engines.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros is the inverse of Micros, in UTC.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
