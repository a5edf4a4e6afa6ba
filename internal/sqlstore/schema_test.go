package sqlstore_test

import (
	"testing"

	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// TestSubjectReferencesIndexed: every column that references subjects(id)
// leads an index. Erasing a subject cascades into each such table; without
// the index every erasure scans the table whole, and erasure time grows with
// the data of everyone else.
func TestSubjectReferencesIndexed(t *testing.T) {
	queries := map[sqlstore.Engine]string{
		sqlstore.SQLite: `SELECT m.name, f."from" FROM sqlite_master m, pragma_foreign_key_list(m.name) f
			WHERE m.type = 'table' AND f."table" = 'subjects'
			AND NOT EXISTS (SELECT 1 FROM pragma_index_list(m.name) il, pragma_index_info(il.name) ii
				WHERE ii.seqno = 0 AND ii.name = f."from")`,
		sqlstore.Postgres: `SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c
			JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
			WHERE c.contype = 'f' AND c.confrelid = 'subjects'::regclass
			AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])`,
	}
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		db := sqltest.Open(t, e, "main")
		var refs int
		count := `SELECT COUNT(*) FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table' AND f."table" = 'subjects'`
		if e == sqlstore.Postgres {
			count = `SELECT COUNT(*) FROM pg_constraint WHERE contype = 'f' AND confrelid = 'subjects'::regclass`
		}
		if err := db.Read().QueryRowContext(t.Context(), count).Scan(&refs); err != nil {
			t.Fatal(err)
		}
		if refs < 10 {
			t.Fatalf("found %d references to subjects: the query does not see the schema", refs)
		}
		rows, err := db.Read().QueryContext(t.Context(), queries[e])
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var table, column string
			if err := rows.Scan(&table, &column); err != nil {
				t.Fatal(err)
			}
			t.Errorf("%s.%s references subjects(id) without an index that starts with it", table, column)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	})
}
