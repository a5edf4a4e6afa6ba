package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// The bare baselines of the erasure and stream benchmarks: the fastest
// plain program for the same database work, with no HTTP, encryption,
// key store, audit or authentication, run in this process against the
// same engine. Their figures are the floor gdprd's are divided by.
//
//   - erase: a subject is a row in bare_subjects and two rows in
//     bare_data (like gdprd's subject and its two categories); erasing
//     one is one transaction of two DELETEs by primary key, committed
//     with the durability gdprd uses (SQLite: WAL, synchronous=FULL;
//     PostgreSQL: synchronous_commit on).
//   - stream: the granted subjects are rows of bare_consent, keyed
//     (purpose, subject_id); streaming them is one index-ordered SELECT
//     whose ids are written as the same NDJSON lines into a buffer that
//     is thrown away.

// bareResult is what one baseline measured.
type bareResult struct {
	EraseP50ms    float64 `json:"erase_p50_ms"`
	EraseP99ms    float64 `json:"erase_p99_ms"`
	EraseMaxms    float64 `json:"erase_max_ms"`
	Erasures      int     `json:"erasures"`
	StreamSeconds float64 `json:"stream_s"`
	StreamLines   int     `json:"stream_lines"`
}

// bareOpen opens the baseline's database: a SQLite file with gdprd's
// pragmas, or the given PostgreSQL URL.
func bareOpen(engine, target string) (*sql.DB, error) {
	if engine == enginePostgres {
		db, err := sql.Open("pgx", target)
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(1)
		return db, nil
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+target+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // one connection: the pragmas below stick to it
	return db, nil
}

// runBare seeds n subjects (granted of them in bare_consent) and measures
// erasures of `erasures` of them (after `warmup` uncounted ones) and one
// stream of the granted ids.
func runBare(ctx context.Context, engine, target string, n, granted, erasures, warmup int) (bareResult, error) {
	var res bareResult
	db, err := bareOpen(engine, target)
	if err != nil {
		return res, err
	}
	defer db.Close()
	blob := "BLOB"
	without := " WITHOUT ROWID"
	if engine == enginePostgres {
		blob, without = "BYTEA", ""
	}
	for _, stmt := range []string{
		"CREATE TABLE bare_subjects (id TEXT PRIMARY KEY, key_id TEXT NOT NULL, created_at BIGINT NOT NULL)" + without,
		"CREATE TABLE bare_data (subject_id TEXT NOT NULL, category TEXT NOT NULL, sealed " + blob + " NOT NULL, PRIMARY KEY (subject_id, category))" + without,
		"CREATE TABLE bare_consent (purpose TEXT NOT NULL, subject_id TEXT NOT NULL, PRIMARY KEY (purpose, subject_id))" + without,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return res, fmt.Errorf("bare baseline: %w", err)
		}
	}
	ids, err := bareSeed(ctx, db, engine, n, granted)
	if err != nil {
		return res, fmt.Errorf("bare baseline: seed: %w", err)
	}
	// Stream first, as against gdprd: the erasures take subjects away.
	start := time.Now()
	lines, err := bareStream(ctx, db, io.Discard)
	if err != nil {
		return res, fmt.Errorf("bare baseline: stream: %w", err)
	}
	res.StreamSeconds, res.StreamLines = time.Since(start).Seconds(), lines
	var times []time.Duration
	// Spread over the whole id range, as random subjects are: a prime step
	// visits distinct ids unless it divides their number.
	step := 7919
	if len(ids)%step == 0 {
		step = 7907
	}
	for i := range min(warmup+erasures, len(ids)) {
		id := ids[(i*step)%len(ids)]
		t := time.Now()
		if err := bareErase(ctx, db, id); err != nil {
			return res, fmt.Errorf("bare baseline: erase: %w", err)
		}
		if i >= warmup {
			times = append(times, time.Since(t))
		}
	}
	res.Erasures = len(times)
	res.EraseP50ms, res.EraseP99ms, res.EraseMaxms = percentiles(times)
	return res, nil
}

// bareSeed loads the tables in large transactions (not durable one by
// one: loading is not measured) and returns the subject ids.
func bareSeed(ctx context.Context, db *sql.DB, engine string, n, granted int) ([]string, error) {
	if engine == engineSQLite {
		if _, err := db.ExecContext(ctx, "PRAGMA synchronous=OFF"); err != nil {
			return nil, err
		}
		defer db.ExecContext(context.Background(), "PRAGMA synchronous=FULL")
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "sub_" + randomHex(13)
	}
	sealed := make([]byte, 60) // about the size of a sealed small category
	const per = 40
	for start := 0; start < n; start += 10 * per * 10 {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		end := min(start+10*per*10, n)
		for s := start; s < end; s += per {
			chunk := ids[s:min(s+per, end)]
			var subj, data, cons []string
			var sa, da, ca []any
			for j, id := range chunk {
				subj = append(subj, fmt.Sprintf("($%d, $%d, $%d)", len(sa)+1, len(sa)+2, len(sa)+3))
				sa = append(sa, id, "dk_"+id[4:], int64(s+j))
				for _, cat := range []string{"contact", "profile"} {
					data = append(data, fmt.Sprintf("($%d, $%d, $%d)", len(da)+1, len(da)+2, len(da)+3))
					da = append(da, id, cat, sealed)
				}
				if k := s + j; int64(k+1)*int64(granted)/int64(n) > int64(k)*int64(granted)/int64(n) {
					cons = append(cons, fmt.Sprintf("($%d, $%d)", len(ca)+1, len(ca)+2))
					ca = append(ca, consentPurpose, id)
				}
			}
			stmts := []struct {
				head string
				vals []string
				args []any
			}{
				{"INSERT INTO bare_subjects (id, key_id, created_at) VALUES ", subj, sa},
				{"INSERT INTO bare_data (subject_id, category, sealed) VALUES ", data, da},
				{"INSERT INTO bare_consent (purpose, subject_id) VALUES ", cons, ca},
			}
			for _, st := range stmts {
				if len(st.vals) == 0 {
					continue
				}
				if _, err := tx.ExecContext(ctx, st.head+strings.Join(st.vals, ","), st.args...); err != nil {
					tx.Rollback()
					return nil, err
				}
			}
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
	}
	if engine == enginePostgres {
		if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// bareErase deletes one subject's rows by primary key in one durable
// transaction.
func bareErase(ctx context.Context, db *sql.DB, id string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM bare_data WHERE subject_id = $1", id); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, "DELETE FROM bare_subjects WHERE id = $1", id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("deleted %d subjects, want 1", n)
	}
	return tx.Commit()
}

// bareStream writes the granted ids, in id order, as NDJSON lines to w.
func bareStream(ctx context.Context, db *sql.DB, w io.Writer) (int, error) {
	rows, err := db.QueryContext(ctx, "SELECT subject_id FROM bare_consent WHERE purpose = $1 ORDER BY subject_id", consentPurpose)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	bw := bufio.NewWriterSize(w, 32<<10)
	n := 0
	var id string
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return n, err
		}
		bw.WriteString(`{"subject_id":"`)
		bw.WriteString(id)
		bw.WriteString("\"}\n")
		n++
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}
