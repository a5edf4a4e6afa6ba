package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migrations live in migrations/<set>/<engine>/NNNN_name.sql. Both engines
// carry the same numbers; a test checks that they stay in step.
//
//go:embed migrations
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func migrationDir(set string, e Engine) (string, error) {
	dir := path.Join("migrations", set, e.String())
	if _, err := fs.Stat(migrationFS, dir); err != nil {
		return "", fmt.Errorf("unknown migration set %q", set)
	}
	return dir, nil
}

func loadMigrations(set string, e Engine) ([]migration, error) {
	dir, err := migrationDir(set, e)
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, ent := range entries {
		name := ent.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", name)
		}
		body, err := fs.ReadFile(migrationFS, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: strings.TrimSuffix(name, ".sql"), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations of %s/%s: expected version %d, found %s", set, e, i+1, m.name)
		}
	}
	return ms, nil
}

// Migrate applies every pending migration of the DB's set, each in its own
// transaction. On PostgreSQL an advisory lock makes replicas that start at
// the same time take turns.
func (db *DB) Migrate(ctx context.Context) error {
	ms, err := loadMigrations(db.set, db.engine)
	if err != nil {
		return err
	}
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if db.engine == Postgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7291001)"); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(7291001)")
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		set_name TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,
		applied_at BIGINT NOT NULL, PRIMARY KEY (set_name, version))`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE set_name = $1", db.set).Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("migrate: database %s schema is at version %d, newer than this gdprd (%d): upgrade gdprd", db.set, current, len(ms))
	}
	for _, m := range ms[current:] {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (set_name, version, name, applied_at) VALUES ($1, $2, $3, $4)",
			db.set, m.version, m.name, time.Now().UnixMicro()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
	}
	return nil
}

// SchemaVersion reports the applied version of the DB's migration set.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.read.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE set_name = $1", db.set).Scan(&v)
	return v, err
}
