package export_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/export"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
	"github.com/gdprd/gdprd/internal/vault"
)

// richData exercises what a CSV must survive: nesting, arrays, empty
// containers, numbers, booleans, nulls, quotes, commas, line breaks,
// non-ASCII text and would-be formulas.
var richData = map[string]string{
	"contact": `{"name":"Zoë \"Z\" Müller","address":{"street":"Hauptstr. 1, Hinterhaus","city":"Berlin","lines":["c/o A","line\nbreak"]},"fax":null,"empty":{}}`,
	"profile": `{"nickname":"=HYPERLINK(\"http://evil.example\",\"x\")","bio":"+1 call me","tags":["@admin","-2+3"],"prefs":{"dark":true,"size":12.5},"none":[]}`,
	"billing": `{"iban":"DE89370400440532013000","balance":-12,"tab":"\tlead"}`,
}

func TestPackageHoldsEveryCategoryAndField(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		id := f.newSubject(t, richData)
		other := f.newSubject(t, map[string]string{"contact": `{"name":"Someone Else"}`})
		files := checkPackage(t, f.build(t, id, export.Encryption{}), id, richData)
		for name, b := range files {
			if bytes.Contains(b, []byte("Someone Else")) || bytes.Contains(b, []byte(other)) {
				t.Errorf("%s holds another person's data", name)
			}
		}
		account := readCSV(t, "account.csv", files["account.csv"])
		got := map[string]string{}
		for _, r := range account[1:] {
			got[r[0]] = r[1]
		}
		if got["id"] != id || got["email"] != "p1@example.org" || got["external_id"] != "cust-1" {
			t.Errorf("account.csv = %v", account)
		}
		// The read went through the vault, audited under dsr-access.
		var n int
		if err := f.db.Read().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM audit_events
			WHERE action = 'subject.read' AND purpose = 'dsr-access' AND actor = $1 AND target = $2`,
			staff.Name, f.kr.AuditTarget("subject", id)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%d audited dsr-access reads, want 1", n)
		}
		if f.auditCount(t, "export.build", "ok") != 1 {
			t.Errorf("the build is not audited")
		}
	})
}

// TestArt15Information checks that data.json holds every item of
// gdpr-requirements 1.2.1, present or stated as not applicable.
func TestArt15Information(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sqlstore.SQLite)
	id := f.newSubject(t, map[string]string{"contact": `{"name":"A"}`})
	f.build(t, id, export.Encryption{}) // a first build: the second lists it as a consultation
	files := unzip(t, f.build(t, id, export.Encryption{}))
	var doc struct {
		Information   map[string]json.RawMessage `json:"information"`
		Consultations []map[string]any           `json:"consultations"`
	}
	if err := json.Unmarshal(files["data.json"], &doc); err != nil {
		t.Fatal(err)
	}
	for _, item := range []string{"confirmation", "controller", "purposes", "categories", "recipients", "source",
		"automated_decisions", "automated_decisions_statement", "transfer_safeguards", "rights", "supervisory_authority"} {
		v, ok := doc.Information[item]
		if !ok || string(v) == `""` || string(v) == "null" {
			t.Errorf("information.%s = %s, want it present", item, v)
		}
	}
	var purposes []struct {
		Slug, LegalBasis, Article, Retention string
	}
	json.Unmarshal(doc.Information["purposes"], &purposes)
	found := false
	for _, p := range purposes {
		if p.Slug == "billing" && p.Article == "Art. 6(1)(c)" && p.Retention != "" {
			found = true
		}
	}
	if !found {
		t.Errorf("purposes lack billing with its legal basis and retention: %s", doc.Information["purposes"])
	}
	if !strings.Contains(string(doc.Information["recipients"]), "Mail Relay Ltd") {
		t.Errorf("recipients = %s, want the configured list", doc.Information["recipients"])
	}
	var rights []export.Right
	json.Unmarshal(doc.Information["rights"], &rights)
	names := map[string]bool{}
	for _, r := range rights {
		names[r.Right] = true
	}
	for _, r := range []string{"access", "rectification", "erasure", "restriction", "portability", "objection", "complaint"} {
		if !names[r] {
			t.Errorf("rights lack %s", r)
		}
	}
	// C-579/21: consultations say when and why, not which employee.
	if len(doc.Consultations) == 0 {
		t.Fatal("no consultations listed")
	}
	if bytes.Contains(files["data.json"], []byte("staff:dpo")) || bytes.Contains(files["consultations.csv"], []byte("staff:dpo")) {
		t.Errorf("a staff identity leaks into the consultations")
	}
	if !bytes.Contains(files["consultations.csv"], []byte("dsr-access")) {
		t.Errorf("consultations.csv does not list the earlier dsr-access read")
	}
}

func TestSafeCell(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"=1+2", "'=1+2"},
		{"+49 30 1234", "'+49 30 1234"},
		{"-12", "'-12"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"plain", "plain"},
		{"a=b", "a=b"},
		{"", ""},
		{"'quoted", "'quoted"},
	}
	for _, tt := range tests {
		if got := export.SafeCell(tt.in); got != tt.want {
			t.Errorf("SafeCell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestCSVInjection checks the archive itself: no cell of any CSV begins
// with a formula character, and data.json keeps the value as stored.
func TestCSVInjection(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sqlstore.SQLite)
	id := f.newSubject(t, richData)
	files := unzip(t, f.build(t, id, export.Encryption{}))
	guarded := 0
	for name, b := range files {
		if !strings.HasSuffix(name, ".csv") {
			continue
		}
		for _, row := range readCSV(t, name, b) {
			for _, cell := range row {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Errorf("%s: cell %q starts with a formula character", name, cell)
				}
				if strings.HasPrefix(cell, "'") {
					guarded++
				}
			}
		}
	}
	if guarded < 6 {
		t.Errorf("%d guarded cells, want at least the 6 formula-like values of richData", guarded)
	}
	if !bytes.Contains(files["data.json"], []byte(`"nickname":"=HYPERLINK(`)) {
		t.Errorf("data.json does not keep the stored value unchanged")
	}
	rows := readCSV(t, "profile", files["categories/profile.csv"])
	want := map[string]string{"nickname": `'=HYPERLINK("http://evil.example","x")`, "bio": "'+1 call me", "tags.0": "'@admin", "tags.1": "'-2+3"}
	for _, r := range rows {
		if w, ok := want[r[0]]; ok && r[1] != w {
			t.Errorf("profile.csv %s = %q, want %q", r[0], r[1], w)
		}
	}
}

// TestAgeRoundTripWithCLI encrypts packages with age and decrypts them with
// the standard age command-line tool: to an X25519 key made by age-keygen,
// and with a passphrase (typed into a pseudo-terminal, since age reads
// passphrases only from a terminal).
func TestAgeRoundTripWithCLI(t *testing.T) {
	t.Parallel()
	ageBin, err := exec.LookPath("age")
	if err != nil {
		if os.Getenv("CI") != "true" {
			t.Skip("age is not installed")
		}
		t.Fatal("the age command is required under CI")
	}
	dir := t.TempDir()
	f := newFixture(t, sqlstore.SQLite)
	id := f.newSubject(t, richData)

	t.Run("x25519", func(t *testing.T) {
		keyFile := filepath.Join(dir, "key.txt")
		if out, err := exec.Command("age-keygen", "-o", keyFile).CombinedOutput(); err != nil {
			t.Fatalf("age-keygen: %v\n%s", err, out)
		}
		key, _ := os.ReadFile(keyFile)
		var pub string
		for _, line := range strings.Split(string(key), "\n") {
			if p, ok := strings.CutPrefix(line, "# public key: "); ok {
				pub = p
			}
		}
		enc := f.build(t, id, export.Encryption{Recipient: pub})
		if bytes.HasPrefix(enc, []byte("PK")) || !bytes.HasPrefix(enc, []byte("age-encryption.org/v1")) {
			t.Fatalf("the package is not an age file: %q", enc[:min(len(enc), 40)])
		}
		in := filepath.Join(dir, "x.zip.age")
		os.WriteFile(in, enc, 0o600)
		out, err := exec.Command(ageBin, "-d", "-i", keyFile, in).Output()
		if err != nil {
			t.Fatalf("age -d: %v", err)
		}
		checkPackage(t, out, id, richData)
	})

	t.Run("passphrase", func(t *testing.T) {
		if _, err := exec.LookPath("script"); err != nil {
			if os.Getenv("CI") != "true" {
				t.Skip("script(1) is needed to give age a terminal")
			}
			t.Fatal("script(1) is required under CI to give age a terminal")
		}
		const pass = "correct horse battery staple"
		enc := f.build(t, id, export.Encryption{Passphrase: pass})
		in, out := filepath.Join(dir, "p.zip.age"), filepath.Join(dir, "p.zip")
		os.WriteFile(in, enc, 0o600)
		cmd := exec.Command("script", "-qec", ageBin+" -d -o "+out+" "+in, "/dev/null")
		cmd.Stdin = strings.NewReader(pass + "\n")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("age -d with a passphrase: %v\n%s", err, b)
		}
		dec, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("age wrote nothing: %v", err)
		}
		checkPackage(t, dec, id, richData)
	})
}

func TestRefusedBuilds(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sqlstore.SQLite)
	id := f.newSubject(t, richData)
	id2, _ := age.GenerateX25519Identity()
	tests := []struct {
		name string
		req  export.Request
		code errcode.Code
	}{
		{"unknown subject", export.Request{SubjectID: "sub_00000000000000000000000000", Kind: export.Access}, errcode.NotFound},
		{"malformed subject", export.Request{SubjectID: "../etc", Kind: export.Access}, errcode.NotFound},
		{"unknown kind", export.Request{SubjectID: id, Kind: "everything"}, errcode.Invalid},
		{"short passphrase", export.Request{SubjectID: id, Kind: export.Access, Encryption: export.Encryption{Passphrase: "short"}}, errcode.Invalid},
		{"bad recipient", export.Request{SubjectID: id, Kind: export.Access, Encryption: export.Encryption{Recipient: "age1nope"}}, errcode.Invalid},
		{"both", export.Request{SubjectID: id, Kind: export.Access, Encryption: export.Encryption{Passphrase: "long enough passphrase", Recipient: id2.Recipient().String()}}, errcode.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := f.exp.Write(t.Context(), staff, &buf, tt.req)
			wantCode(t, err, tt.code)
			if buf.Len() != 0 {
				t.Errorf("a refused build wrote %d bytes", buf.Len())
			}
		})
	}
	if n := f.auditCount(t, "export.build", "invalid"); n != 4 {
		t.Errorf("%d refused builds audited, want 4", n)
	}
}

// TestRestrictedSubjectGetsACopy: restriction (Art. 18) does not suspend
// the right of access.
func TestRestrictedSubjectGetsACopy(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		id := f.newSubject(t, richData)
		err := f.db.Write(t.Context(), func(tx *sqlstore.Tx) error {
			_, err := tx.ExecContext(t.Context(), "UPDATE subjects SET restricted = 1 WHERE id = $1", id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.vault.Get(t.Context(), vault.Actor{Name: "staff:x", Purpose: "support"}, id); errcode.Of(err) != errcode.Restricted {
			t.Fatalf("support read of a restricted subject: %v, want restricted", err)
		}
		checkPackage(t, f.build(t, id, export.Encryption{}), id, richData)
	})
}

func TestFlattenOrderAndLeaves(t *testing.T) {
	t.Parallel()
	var got [][2]string
	err := export.Flatten([]byte(`{"b":1,"a":{"z":[true,null,"x"],"e":{}},"c":[]}`), func(f, v string) error {
		got = append(got, [2]string{f, v})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"b", "1"}, {"a.z.0", "true"}, {"a.z.1", ""}, {"a.z.2", "x"}, {"a.e", "{}"}, {"c", "[]"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Flatten = %v, want %v", got, want)
	}
	if err := export.Flatten([]byte(`{"a":1}`), func(string, string) error { return errStop }); err != errStop {
		t.Errorf("Flatten did not return the callback's error: %v", err)
	}
}
