package export_test

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/export"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

var testMaster = []byte("gdprd export tests master key 32")

var (
	staff  = vault.Actor{Name: "staff:dpo", Purpose: "dsr"}
	system = vault.Actor{Name: "system", Purpose: "service-delivery"}
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	db    *sqlstore.DB
	kr    *keys.Keyring
	vault *vault.Vault
	clock *testClock
	exp   *export.Exporter
	seq   atomic.Int64
}

var testInfo = export.Info{
	Controller:           "Example Printing GmbH, privacy@example.org",
	DPO:                  "dpo@example.org",
	SupervisoryAuthority: "Berliner Beauftragte für Datenschutz und Informationsfreiheit",
	Recipients: []export.Recipient{{Name: "Mail Relay Ltd", Role: "processor", Country: "IE",
		Categories: []string{"contact"}}},
}

func newFixture(t testing.TB, e sqlstore.Engine) *fixture {
	t.Helper()
	ctx := t.Context()
	f := &fixture{db: sqltest.Open(t, e, "main"), clock: &testClock{now: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)}}
	keysDB := sqltest.Open(t, e, "keys")
	kr, err := keys.NewKeyring(testMaster)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := vault.OpenKeyStore(ctx, keysDB, kr, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(audit.Options{Clock: f.clock.Now, Signer: kr, KeyID: keys.CheckpointKeyID(kr.CheckpointPublicKey())})
	v, err := vault.New(ctx, vault.Options{DB: f.db, KeyStore: ks, Keyring: kr, Audit: log, Clock: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	reg, err := consent.New(consent.Options{DB: f.db, Audit: log, Sealer: v, Targets: kr, Clock: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.kr, f.vault = kr, v
	f.exp, err = export.New(export.Options{DB: f.db, Vault: v, Consent: reg, Audit: log, Keyring: kr,
		Info: testInfo, Clock: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// newSubject stores a person with data in the given categories.
func (f *fixture) newSubject(t testing.TB, data map[string]string) string {
	t.Helper()
	n := vault.NewSubject{ExternalID: fmt.Sprintf("cust-%d", f.seq.Add(1)), Email: fmt.Sprintf("p%d@example.org", f.seq.Load()),
		Data: map[string]json.RawMessage{}}
	for c, v := range data {
		n.Data[c] = json.RawMessage(v)
	}
	s, err := f.vault.Create(t.Context(), system, n)
	if err != nil {
		t.Fatalf("create subject: %v", err)
	}
	return s.ID
}

// build writes the package and returns the bytes.
func (f *fixture) build(t *testing.T, id string, enc export.Encryption) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := f.exp.Write(t.Context(), staff, &buf, export.Request{SubjectID: id, Kind: export.Access, Encryption: enc}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

// auditCount counts the audit events with action and result.
func (f *fixture) auditCount(t *testing.T, action, result string) int {
	t.Helper()
	var n int
	if err := f.db.Read().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM audit_events WHERE action = $1 AND result = $2",
		action, result).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func wantCode(t *testing.T, err error, code errcode.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s", code)
	}
	if got := errcode.Of(err); got != code {
		t.Fatalf("err = %v (%s), want %s", err, got, code)
	}
}

// unzip reads every file of an archive.
func unzip(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("open zip: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", f.Name, err)
		}
		out[f.Name] = body
	}
	return out
}

// readCSV parses an RFC 4180 file, checking its CRLF line ends.
func readCSV(t *testing.T, name string, b []byte) [][]string {
	t.Helper()
	if len(b) > 0 && !bytes.HasSuffix(b, []byte("\r\n")) {
		t.Errorf("%s does not end its lines with CRLF", name)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("%s is not CSV: %v", name, err)
	}
	return rows
}

// leaves flattens stored JSON into field -> value, independently of
// export.Flatten: it decodes the whole value and walks it.
func leaves(t *testing.T, raw string) map[string]string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		key := func(k string) string {
			if path == "" {
				return k
			}
			return path + "." + k
		}
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 && path != "" {
				out[path] = "{}"
			}
			for k, e := range x {
				walk(key(k), e)
			}
		case []any:
			if len(x) == 0 {
				out[path] = "[]"
			}
			for i, e := range x {
				walk(key(fmt.Sprint(i)), e)
			}
		case string:
			out[path] = x
		case json.Number:
			out[path] = x.String()
		case bool:
			out[path] = fmt.Sprint(x)
		case nil:
			out[path] = ""
		}
	}
	walk("", v)
	return out
}

// unquote undoes the formula guard, to compare a CSV cell with the stored
// value.
func unquote(cell, stored string) string {
	if export.SafeCell(stored) == cell {
		return stored
	}
	return cell
}

// checkPackage opens a package and checks every category and field of
// stored (category -> stored JSON) in both the CSVs and data.json.
func checkPackage(t *testing.T, b []byte, subjectID string, stored map[string]string) map[string][]byte {
	t.Helper()
	files := unzip(t, b)
	for _, name := range []string{"README.txt", "account.csv", "purposes.csv", "consultations.csv", "data.json"} {
		if _, ok := files[name]; !ok {
			t.Errorf("the package lacks %s", name)
		}
	}
	var doc struct {
		Format  string                     `json:"format"`
		Subject struct{ ID string }        `json:"subject"`
		Data    map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(files["data.json"], &doc); err != nil {
		t.Fatalf("data.json: %v\n%s", err, files["data.json"])
	}
	if doc.Subject.ID != subjectID || doc.Format != export.Format {
		t.Errorf("data.json is about %q in format %q", doc.Subject.ID, doc.Format)
	}
	var cats []string
	for c := range stored {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	var gotCats []string
	for name := range files {
		if c, ok := strings.CutPrefix(name, "categories/"); ok {
			gotCats = append(gotCats, strings.TrimSuffix(c, ".csv"))
		}
	}
	sort.Strings(gotCats)
	if !reflect.DeepEqual(gotCats, cats) {
		t.Errorf("category files %v, want %v", gotCats, cats)
	}
	for _, c := range cats {
		want := leaves(t, stored[c])
		rows := readCSV(t, c, files["categories/"+c+".csv"])
		if len(rows) == 0 || !reflect.DeepEqual(rows[0], []string{"field", "value"}) {
			t.Fatalf("%s.csv header = %v", c, rows)
		}
		got := map[string]string{}
		for _, r := range rows[1:] {
			if _, dup := got[r[0]]; dup {
				t.Errorf("%s.csv repeats field %q", c, r[0])
			}
			got[r[0]] = unquote(r[1], want[r[0]])
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s.csv holds %d fields, want %d\n got %v\nwant %v", c, len(got), len(want), got, want)
		}
		var a, b any
		if err := json.Unmarshal(doc.Data[c], &a); err != nil {
			t.Fatalf("data.json %s: %v", c, err)
		}
		json.Unmarshal([]byte(stored[c]), &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("data.json %s = %s, want %s", c, doc.Data[c], stored[c])
		}
	}
	if len(doc.Data) != len(stored) {
		t.Errorf("data.json holds %d categories, want %d", len(doc.Data), len(stored))
	}
	return files
}

var errStop = errors.New("stop")
