package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

func createThings(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	err := db.Write(context.Background(), func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(context.Background(), "CREATE TABLE things (name TEXT NOT NULL UNIQUE)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, db *sqlstore.DB, table string) int {
	t.Helper()
	var n int
	if err := db.Read().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMigrationsInStep(t *testing.T) {
	root := "migrations"
	sets, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range sets {
		lite, _ := filepath.Glob(filepath.Join(root, set.Name(), "sqlite", "*.sql"))
		pg, _ := filepath.Glob(filepath.Join(root, set.Name(), "postgres", "*.sql"))
		if len(lite) == 0 || len(lite) != len(pg) {
			t.Fatalf("set %s: %d sqlite and %d postgres migrations", set.Name(), len(lite), len(pg))
		}
		for i := range lite {
			if filepath.Base(lite[i]) != filepath.Base(pg[i]) {
				t.Errorf("set %s: %s has no postgres twin (found %s)", set.Name(), filepath.Base(lite[i]), filepath.Base(pg[i]))
			}
		}
	}
}

func TestOpenMigratesAndIsIdempotent(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		for _, set := range []string{"main", "keys"} {
			url := sqltest.URL(t, e, set)
			for i := 0; i < 2; i++ {
				db, err := sqlstore.Open(context.Background(), sqlstore.Options{URL: url, Set: set})
				if err != nil {
					t.Fatalf("open %d: %v", i, err)
				}
				v, err := db.SchemaVersion(context.Background())
				if err != nil || v < 1 {
					t.Fatalf("schema version = %d, %v", v, err)
				}
				db.Close()
			}
		}
	})
}

func TestUnknownSetRefused(t *testing.T) {
	_, err := sqlstore.Open(context.Background(), sqlstore.Options{URL: filepath.Join(t.TempDir(), "x.db"), Set: "nope"})
	if err == nil {
		t.Fatal("opening an unknown migration set succeeded")
	}
}

// TestConcurrentWritesIsolateFailures: many concurrent writers, a third of
// them failing with a duplicate; each caller gets its own outcome and only
// the successful writes are stored.
func TestConcurrentWritesIsolateFailures(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		db := sqltest.Open(t, e, "main")
		createThings(t, db)
		const n = 150
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				name := fmt.Sprintf("thing-%d", i)
				if i%3 == 0 {
					name = "duplicate"
				}
				errs[i] = db.Write(context.Background(), func(tx *sqlstore.Tx) error {
					_, err := tx.ExecContext(context.Background(), "INSERT INTO things (name) VALUES ($1)", name)
					return err
				})
			}(i)
		}
		wg.Wait()
		var ok, dup int
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case sqlstore.IsUniqueViolation(err):
				dup++
			default:
				t.Fatalf("unexpected error: %v", err)
			}
		}
		if want := n - n/3 + 1; ok != want || dup != n/3-1 {
			t.Fatalf("ok=%d dup=%d, want ok=%d dup=%d", ok, dup, want, n/3-1)
		}
		if got := count(t, db, "things"); got != ok {
			t.Fatalf("stored %d rows, %d writes succeeded", got, ok)
		}
	})
}

// TestFailedWriteLeavesNothing: a callback that writes and then fails
// leaves no trace, also when batched with others.
func TestFailedWriteLeavesNothing(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		db := sqltest.Open(t, e, "main")
		createThings(t, db)
		boom := errors.New("boom")
		var wg sync.WaitGroup
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				err := db.Write(context.Background(), func(tx *sqlstore.Tx) error {
					if _, err := tx.ExecContext(context.Background(), "INSERT INTO things (name) VALUES ($1)", fmt.Sprint("x", i)); err != nil {
						return err
					}
					if i%2 == 1 {
						return boom
					}
					return nil
				})
				if (i%2 == 1) != errors.Is(err, boom) {
					t.Errorf("write %d: err = %v", i, err)
				}
			}(i)
		}
		wg.Wait()
		if got := count(t, db, "things"); got != 20 {
			t.Fatalf("stored %d rows, want 20", got)
		}
	})
}

func TestPanicInWriteIsAnError(t *testing.T) {
	db := sqltest.Open(t, sqlstore.SQLite, "main")
	createThings(t, db)
	err := db.Write(context.Background(), func(tx *sqlstore.Tx) error { panic("bug") })
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("err = %v", err)
	}
	// The writer survives.
	if err := db.Write(context.Background(), func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(context.Background(), "INSERT INTO things (name) VALUES ('after')")
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func TestRelaxedWritesAreVisibleAndPersist(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		url := sqltest.URL(t, e, "main")
		db, err := sqlstore.Open(context.Background(), sqlstore.Options{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		createThings(t, db)
		for i := 0; i < 10; i++ {
			d := sqlstore.Relaxed
			if i == 5 {
				d = sqlstore.Durable
			}
			if err := db.WriteWith(context.Background(), d, func(tx *sqlstore.Tx) error {
				_, err := tx.ExecContext(context.Background(), "INSERT INTO things (name) VALUES ($1)", fmt.Sprint("r", i))
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		if got := count(t, db, "things"); got != 10 {
			t.Fatalf("visible rows = %d", got)
		}
		db.Close()
		db, err = sqlstore.Open(context.Background(), sqlstore.Options{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if got := count(t, db, "things"); got != 10 {
			t.Fatalf("rows after reopen = %d", got)
		}
	})
}

func TestWriteAfterCloseFails(t *testing.T) {
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{URL: filepath.Join(t.TempDir(), "c.db")})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := db.Write(context.Background(), func(*sqlstore.Tx) error { return nil }); !errors.Is(err, sqlstore.ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

func TestSQLitePragmas(t *testing.T) {
	db := sqltest.Open(t, sqlstore.SQLite, "main")
	checks := map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "secure_delete": "1"}
	for pragma, want := range checks {
		var got string
		if err := db.Read().QueryRowContext(context.Background(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	// Readers are read-only.
	if _, err := db.Read().ExecContext(context.Background(), "CREATE TABLE nope (x)"); err == nil {
		t.Error("read pool accepted a write")
	}
}

// TestLibcPin: modernc.org/sqlite is generated against one exact
// modernc.org/libc; a different libc compiles but can corrupt memory. The
// build must use the version sqlite's own go.mod names.
func TestLibcPin(t *testing.T) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info: cannot check the libc pin")
	}
	var sqliteVer, libcVer string
	for _, d := range info.Deps {
		switch d.Path {
		case "modernc.org/sqlite":
			sqliteVer = d.Version
		case "modernc.org/libc":
			libcVer = d.Version
		}
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	gomodcache := strings.TrimSpace(string(out))
	modFile := filepath.Join(gomodcache, "cache", "download", "modernc.org", "sqlite", "@v", sqliteVer+".mod")
	body, err := os.ReadFile(modFile)
	if err != nil {
		t.Fatalf("read sqlite's go.mod (%s): %v", modFile, err)
	}
	want := ""
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "modernc.org/libc" {
			want = f[1]
		}
	}
	if want == "" {
		t.Fatal("sqlite's go.mod names no libc")
	}
	if libcVer != want {
		t.Fatalf("modernc.org/libc is %s, but modernc.org/sqlite %s was generated with %s", libcVer, sqliteVer, want)
	}
}

// TestReadTxDoesNotDeadlockOnColdStatements: every reader connection held
// by a transaction that meets a statement for the first time must not wait
// for a free connection to prepare it on.
func TestReadTxDoesNotDeadlockOnColdStatements(t *testing.T) {
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{URL: filepath.Join(t.TempDir(), "r.db"), Readers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	done := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func(i int) {
			done <- db.ReadTx(context.Background(), func(q sqlstore.Querier) error {
				var n int
				// A distinct query text per goroutine: each is cold.
				if err := q.QueryRowContext(context.Background(), fmt.Sprintf("SELECT %d + COUNT(*) FROM purposes", i)).Scan(&n); err != nil {
					return err
				}
				time.Sleep(20 * time.Millisecond) // hold the connection
				return q.QueryRowContext(context.Background(), fmt.Sprintf("SELECT %d", i)).Scan(&n)
			})
		}(i)
	}
	for i := 0; i < 8; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("read transactions deadlocked")
		}
	}
}
