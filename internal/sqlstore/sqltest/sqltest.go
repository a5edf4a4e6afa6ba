// Package sqltest gives tests a real database on each engine gdprd supports:
// a fresh SQLite file in a temporary directory, and a fresh schema in the
// PostgreSQL server named by GDPRD_TEST_POSTGRES_URL (started by `make
// test`). Without that variable PostgreSQL tests skip on a laptop and fail
// under CI=true, so CI can never pass by silently testing one engine.
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/gdprd/gdprd/internal/sqlstore"
)

// PostgresURL returns the test server's URL, skipping (or failing under CI)
// when there is none.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("GDPRD_TEST_POSTGRES_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("GDPRD_TEST_POSTGRES_URL is not set: under CI=true PostgreSQL tests must run (use `make test`)")
		}
		t.Skip("GDPRD_TEST_POSTGRES_URL not set; run `make test` to test PostgreSQL (skipped outside CI)")
	}
	return u
}

// Engines lists the engines a conformance test runs on.
var Engines = []sqlstore.Engine{sqlstore.SQLite, sqlstore.Postgres}

// URL returns a database URL for engine e that is private to this test: a
// file in t.TempDir() for SQLite, a fresh schema (dropped at cleanup) for
// PostgreSQL. name separates several databases in one test ("main", "keys").
func URL(t testing.TB, e sqlstore.Engine, name string) string {
	t.Helper()
	if e == sqlstore.SQLite {
		return filepath.Join(t.TempDir(), name+".db")
	}
	base := PostgresURL(t)
	schema := "t_" + randomHex(t, 8)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse GDPRD_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens a migrated database of the given set on engine e, closed at
// the end of the test.
func Open(t testing.TB, e sqlstore.Engine, set string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{URL: URL(t, e, set), Set: set})
	if err != nil {
		t.Fatalf("open %s store on %s: %v", set, e, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Each runs fn as a subtest once per engine.
func Each(t *testing.T, fn func(t *testing.T, e sqlstore.Engine)) {
	t.Helper()
	for _, e := range Engines {
		t.Run(e.String(), func(t *testing.T) { fn(t, e) })
	}
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
