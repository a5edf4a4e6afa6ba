package consent

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// Query selects consent records for the staff console's register search
// and export. Empty fields select everything.
type Query struct {
	SubjectID string
	Purpose   string
	// From and To bound recorded_at: From <= recorded_at < To.
	From, To time.Time
	// Limit caps the records (0: no cap, for a streamed export).
	Limit int
}

// Search streams the records q selects, oldest first, to fn. Proofs stay
// sealed (OpenProof reveals one). The caller audits the search: it reads
// the consent history of many people.
func (r *Register) Search(ctx context.Context, q Query, fn func(Record) error) error {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.SubjectID != "" {
		if !strings.HasPrefix(q.SubjectID, "sub_") || len(q.SubjectID) > 64 || !validText(q.SubjectID) {
			return nil // no such subject: nothing matches
		}
		where = append(where, "subject_id = "+arg(q.SubjectID))
	}
	if q.Purpose != "" {
		if !slugPattern.MatchString(q.Purpose) {
			return errcode.Field("purpose", "unknown purpose %q", truncate(q.Purpose, 64))
		}
		where = append(where, "purpose = "+arg(q.Purpose))
	}
	if !q.From.IsZero() {
		where = append(where, "recorded_at >= "+arg(sqlstore.Micros(q.From)))
	}
	if !q.To.IsZero() {
		where = append(where, "recorded_at < "+arg(sqlstore.Micros(q.To)))
	}
	query := selectRecords
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY seq"
	if q.Limit > 0 {
		query += " LIMIT " + arg(q.Limit)
	}
	rows, err := r.db.Read().QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("search consent records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Figure is the number of grants, withdrawals and objections of one
// purpose in one calendar month (UTC).
type Figure struct {
	Month       string `json:"month"` // "2026-05"
	Purpose     string `json:"purpose"`
	Grants      int    `json:"grants"`
	Withdrawals int    `json:"withdrawals"`
	Objections  int    `json:"objections"`
}

// Figures counts the grants, withdrawals and objections per purpose per
// month recorded in [from, to), newest month first. The counting is done
// here rather than in SQL because the two engines group dates differently;
// it reads one row per record of the period, so the console asks for a
// bounded period.
func (r *Register) Figures(ctx context.Context, from, to time.Time) ([]Figure, error) {
	rows, err := r.db.Read().QueryContext(ctx, `SELECT purpose, kind, recorded_at FROM consent_records
		WHERE purpose IS NOT NULL AND recorded_at >= $1 AND recorded_at < $2`, sqlstore.Micros(from), sqlstore.Micros(to))
	if err != nil {
		return nil, fmt.Errorf("consent figures: %w", err)
	}
	defer rows.Close()
	type key struct{ month, purpose string }
	counts := map[key]*Figure{}
	for rows.Next() {
		var purpose, kind string
		var at int64
		if err := rows.Scan(&purpose, &kind, &at); err != nil {
			return nil, fmt.Errorf("consent figures: %w", err)
		}
		k := key{sqlstore.FromMicros(at).UTC().Format("2006-01"), purpose}
		f := counts[k]
		if f == nil {
			f = &Figure{Month: k.month, Purpose: purpose}
			counts[k] = f
		}
		switch Kind(kind) {
		case Grant:
			f.Grants++
		case Withdraw:
			f.Withdrawals++
		case Object:
			f.Objections++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("consent figures: %w", err)
	}
	out := make([]Figure, 0, len(counts))
	for _, f := range counts {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Month != out[j].Month {
			return out[i].Month > out[j].Month
		}
		return out[i].Purpose < out[j].Purpose
	})
	return out, nil
}
