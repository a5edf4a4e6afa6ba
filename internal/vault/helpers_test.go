package vault_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

// testMaster is the fixed master key of every test vault; reopening a vault
// builds a fresh keyring from the same bytes.
var testMaster = []byte("gdprd vault tests master key 32B")

// checkpointEvery is small so that audit.Verify also checks signed
// checkpoints in the audit tests.
const checkpointEvery = 7

var (
	staff  = vault.Actor{Name: "staff:tester", Purpose: "support"}
	system = vault.Actor{Name: "system", Purpose: "dsr"}
)

// clock is an injected clock that moves forward on every reading by a step
// with sub-microsecond digits, so times the vault returns must be truncated
// to the stored precision to compare equal after a round trip.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 5, 4, 9, 30, 0, 123456789, time.UTC)}
}

// Advance moves the clock forward by d, as if that much time had passed.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(1001*time.Microsecond + 333*time.Nanosecond)
	return c.now
}

// env is a vault on one engine with everything it is built from, so tests
// can look under the hood (raw SQL on both stores) and reopen it.
type env struct {
	engine  sqlstore.Engine
	mainURL string
	keysURL string
	clock   *clock

	db     *sqlstore.DB // main store
	keysDB *sqlstore.DB // key store
	kr     *keys.Keyring
	ks     *vault.KeyStore
	log    *audit.Log
	v      *vault.Vault
}

// newVault opens a main store and a separate key store on engine e and
// builds a Vault over them.
func newVault(t *testing.T, e sqlstore.Engine) *env {
	t.Helper()
	en := &env{
		engine:  e,
		mainURL: sqltest.URL(t, e, "main"),
		keysURL: sqltest.URL(t, e, "keys"),
		clock:   newClock(),
	}
	en.db = openStore(t, en.mainURL, "main")
	en.keysDB = openStore(t, en.keysURL, "keys")
	en.build(t)
	return en
}

// build makes the keyring, key store, audit log and vault over the open
// stores; a fresh keyring each time, as after a restart.
func (en *env) build(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	kr, err := keys.NewKeyring(testMaster)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	ks, err := vault.OpenKeyStore(ctx, en.keysDB, kr, en.clock.Now)
	if err != nil {
		t.Fatalf("OpenKeyStore: %v", err)
	}
	en.kr, en.ks = kr, ks
	en.log = audit.New(audit.Options{
		Clock:           en.clock.Now,
		Signer:          kr,
		KeyID:           keys.CheckpointKeyID(kr.CheckpointPublicKey()),
		CheckpointEvery: checkpointEvery,
	})
	en.v = en.newVaultOnly(t)
}

// newVaultOnly runs vault.New over the current stores and keys (which
// applies pending key tombstones).
func (en *env) newVaultOnly(t *testing.T) *vault.Vault {
	t.Helper()
	v, err := vault.New(t.Context(), vault.Options{
		DB: en.db, KeyStore: en.ks, Keyring: en.kr, Audit: en.log, Clock: en.clock.Now,
	})
	if err != nil {
		t.Fatalf("vault.New: %v", err)
	}
	return v
}

// reopen closes both stores and opens everything again from the same URLs
// and master key bytes, as a restart would.
func (en *env) reopen(t *testing.T) {
	t.Helper()
	if err := en.db.Close(); err != nil {
		t.Fatalf("close main store: %v", err)
	}
	en.keysDB.Close() // may already be closed by the test
	en.db = openStore(t, en.mainURL, "main")
	en.keysDB = openStore(t, en.keysURL, "keys")
	en.build(t)
}

func openStore(t *testing.T, url, set string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), sqlstore.Options{URL: url, Set: set})
	if err != nil {
		t.Fatalf("open %s store: %v", set, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (en *env) target(id string) string { return en.kr.AuditTarget("subject", id) }

// raw turns a JSON literal into a RawMessage.
func raw(s string) json.RawMessage { return json.RawMessage(s) }

func ptr(s string) *string { return &s }

// randomSubjectID returns a well-formed subject id that was never issued.
func randomSubjectID(t *testing.T) string {
	t.Helper()
	var b [16]byte
	rand.Read(b[:])
	id := "sub_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	if !vault.ValidSubjectID(id) {
		t.Fatalf("randomSubjectID made %q, which the vault does not accept as an id", id)
	}
	return id
}

func mustCreate(t *testing.T, v *vault.Vault, n vault.NewSubject) *vault.Subject {
	t.Helper()
	s, err := v.Create(t.Context(), staff, n)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return s
}

func mustGet(t *testing.T, v *vault.Vault, id string) *vault.Subject {
	t.Helper()
	s, err := v.Get(t.Context(), staff, id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return s
}

// wantCode fails unless err carries the error code want.
func wantCode(t *testing.T, err error, want errcode.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", want)
	}
	if got := errcode.Of(err); got != want {
		t.Fatalf("got error code %s (%v), want %s", got, err, want)
	}
}

// jsonEqual reports whether two JSON documents are equal as values.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("bad JSON %q: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("bad JSON %q: %v", b, err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// sameSubject fails unless got and want are the same subject, field by
// field (data compared byte for byte: the vault returns compact JSON).
func sameSubject(t *testing.T, got, want *vault.Subject) {
	t.Helper()
	if got.ID != want.ID || got.ExternalID != want.ExternalID || got.Email != want.Email ||
		got.Phone != want.Phone || got.Restricted != want.Restricted {
		t.Errorf("subject = %+v, want %+v", *got, *want)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("subject times = (%v, %v), want (%v, %v)", got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	if len(got.Data) != len(want.Data) {
		t.Errorf("subject has categories %v, want %v", keysOf(got.Data), keysOf(want.Data))
	}
	for c, w := range want.Data {
		if g := got.Data[c]; !bytes.Equal(g, w) {
			t.Errorf("data %s = %s, want %s", c, g, w)
		}
	}
}

func keysOf(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// count returns the number of rows of table matching an optional WHERE
// clause.
func count(t *testing.T, db *sqlstore.DB, table, where string, args ...any) int {
	t.Helper()
	q := "SELECT COUNT(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	var n int
	if err := db.Read().QueryRowContext(t.Context(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// tableOrder is a deterministic order for every table snapshot dumps.
var tableOrder = map[string]string{
	"subjects":            "id",
	"subject_identifiers": "kind, blind",
	"subject_data":        "subject_id, category",
	"key_tombstones":      "key_id",
	"audit_events":        "seq",
	"audit_head":          "id",
	"data_keys":           "id",
}

// personalTables hold personal data; bad input must leave them as they were.
var personalTables = []string{"subjects", "subject_identifiers", "subject_data"}

// stateTables are everything a vault operation may change in the main store.
var stateTables = []string{"subjects", "subject_identifiers", "subject_data", "key_tombstones", "audit_events", "audit_head"}

// snapshot dumps every row of tables, in a fixed order, as text. Two equal
// snapshots mean the tables hold exactly the same rows.
func snapshot(t *testing.T, db *sqlstore.DB, tables ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range tables {
		order, ok := tableOrder[table]
		if !ok {
			t.Fatalf("snapshot: no order for table %s", table)
		}
		rows, err := db.Read().QueryContext(t.Context(), "SELECT * FROM "+table+" ORDER BY "+order)
		if err != nil {
			t.Fatalf("snapshot %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("snapshot %s: %v", table, err)
			}
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					v = hex.EncodeToString(b)
				}
				fmt.Fprintf(&sb, "%s=%v ", cols[i], v)
			}
			sb.WriteByte('\n')
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("snapshot %s: %v", table, err)
		}
		rows.Close()
		out[table] = fmt.Sprintf("%d rows\n%s", n, sb.String())
	}
	return out
}

// sameSnapshot fails for every table whose rows changed.
func sameSnapshot(t *testing.T, got, want map[string]string) {
	t.Helper()
	for table, w := range want {
		if g := got[table]; g != w {
			t.Errorf("table %s changed:\nbefore: %s\nafter:  %s", table, w, g)
		}
	}
}

// subjectKeyIDs returns the ids of every data key a stored subject uses:
// its own key first, then one per category.
func subjectKeyIDs(t *testing.T, db *sqlstore.DB, id string) []string {
	t.Helper()
	ctx := t.Context()
	var ids []string
	var k string
	if err := db.Read().QueryRowContext(ctx, "SELECT key_id FROM subjects WHERE id = $1", id).Scan(&k); err != nil {
		t.Fatalf("subject key of %s: %v", id, err)
	}
	ids = append(ids, k)
	rows, err := db.Read().QueryContext(ctx, "SELECT key_id FROM subject_data WHERE subject_id = $1 ORDER BY category", id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// keysPresent counts how many of ids still have a row in the key store.
func keysPresent(t *testing.T, keysDB *sqlstore.DB, ids ...string) int {
	t.Helper()
	n := 0
	for _, id := range ids {
		n += count(t, keysDB, "data_keys", "id = $1", id)
	}
	return n
}

// execWrite runs statements in one write transaction of db.
func execWrite(t *testing.T, db *sqlstore.DB, stmts ...string) {
	t.Helper()
	err := db.Write(t.Context(), func(tx *sqlstore.Tx) error {
		for _, s := range stmts {
			if _, err := tx.ExecContext(t.Context(), s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// auditCounts returns how many events the log holds per action.
func auditCounts(t *testing.T, db *sqlstore.DB) map[string]int {
	t.Helper()
	rows, err := db.Read().QueryContext(t.Context(), "SELECT action, COUNT(*) FROM audit_events GROUP BY action")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var a string
		var n int
		if err := rows.Scan(&a, &n); err != nil {
			t.Fatal(err)
		}
		out[a] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func eventsOf(t *testing.T, en *env, id string) []audit.Event {
	t.Helper()
	evs, err := audit.ListByTarget(t.Context(), en.db.Read(), en.target(id), 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}
