package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds the statement cache; queries built with a variable
// number of placeholders have a few shapes each, so this is never reached
// in practice, and past it statements are simply not cached.
const maxCachedStmts = 512

// stmtCache keeps one prepared statement per query text. SQLite spends a
// fifth of a simple request parsing SQL when each call prepares afresh;
// database/sql re-prepares a cached *sql.Stmt on each pooled connection the
// first time it is used there. (pgx caches statements per connection by
// itself, so PostgreSQL does not use this.)
type stmtCache struct {
	db      *sql.DB
	mu      sync.RWMutex
	m       map[string]*sql.Stmt
	warming map[string]bool
	closed  bool
	// warmers counts background prepares, so close waits for them: one
	// still running after the pool closed could open a fresh connection
	// and recreate the WAL files of a database its owner just removed.
	warmers sync.WaitGroup
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, warming: map[string]bool{}}
}

// lookup returns the cached statement for query, or nil.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[query]
}

// get returns the prepared statement for query, preparing it on a miss,
// or nil when it cannot be cached (the caller then runs the query
// unprepared). Preparing needs a free connection of the pool, so get must
// not be called by someone holding one (see warm); no lock is held while
// preparing.
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if st := c.lookup(query); st != nil {
		return st
	}
	return c.prepare(ctx, query)
}

func (c *stmtCache) prepare(ctx context.Context, query string) *sql.Stmt {
	c.mu.RLock()
	full := c.closed || len(c.m) >= maxCachedStmts
	c.mu.RUnlock()
	if full {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // let the unprepared call report the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if have := c.m[query]; have != nil || c.closed {
		st.Close()
		return have
	}
	c.m[query] = st
	return st
}

// warm prepares query in the background. Transactions use it on a miss:
// they hold a pool connection, and waiting for another one to prepare on
// could deadlock when every connection is held the same way. Until the
// statement is ready they run the query unprepared.
func (c *stmtCache) warm(query string) {
	c.mu.Lock()
	if c.warming[query] || c.closed {
		c.mu.Unlock()
		return
	}
	c.warming[query] = true
	c.warmers.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.warmers.Done()
		c.prepare(context.Background(), query)
		c.mu.Lock()
		delete(c.warming, query)
		c.mu.Unlock()
	}()
}

func (c *stmtCache) close() {
	c.mu.Lock()
	c.closed = true
	for _, st := range c.m {
		st.Close()
	}
	c.m = map[string]*sql.Stmt{}
	c.mu.Unlock()
	// The pool is still open here, so a prepare in flight finishes (and
	// closes its statement, seeing closed) before the pool goes.
	c.warmers.Wait()
}

// cachedDB runs queries on a pool through the statement cache.
type cachedDB struct {
	db    *sql.DB
	cache *stmtCache
}

func (c cachedDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := c.cache.get(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.db.ExecContext(ctx, query, args...)
}

func (c cachedDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := c.cache.get(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, query, args...)
}

func (c cachedDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := c.cache.get(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, query, args...)
}
