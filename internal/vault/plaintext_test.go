package vault_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/vault"
)

// A form is one way a store could write a value that contains a canary:
// encode turns the whole value into stored bytes, needles gives what to
// look for when the canary sits anywhere inside such a value.
type form struct {
	name    string
	ofRaw   bool // applies to the canary's raw bytes rather than its text
	encode  func([]byte) []byte
	needles func([]byte) [][]byte
}

func same(b []byte) [][]byte { return [][]byte{b} }

func jsonUnicodeEscape(b []byte) []byte {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, `\u%04x`, c)
	}
	return []byte(sb.String())
}

func utf16le(b []byte) []byte {
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, c, 0)
	}
	return out
}

// base64Needles returns, for each of the three byte alignments the canary
// can have inside a longer encoded value, the part of the encoding that
// depends on canary bytes only.
func base64Needles(enc *base64.Encoding) func([]byte) [][]byte {
	return func(c []byte) [][]byte {
		var out [][]byte
		for a := range 3 {
			full := enc.EncodeToString(append(bytes.Repeat([]byte{0}, a), c...))
			start := 0
			if a > 0 {
				start = 4
			}
			end := (a + len(c)) / 3 * 4
			out = append(out, []byte(full[start:end]))
		}
		return out
	}
}

func b64(enc *base64.Encoding) func([]byte) []byte {
	return func(b []byte) []byte { return []byte(enc.EncodeToString(b)) }
}

var forms = []form{
	{name: "plain", encode: func(b []byte) []byte { return b }, needles: same},
	{name: "upper", encode: bytes.ToUpper, needles: func(b []byte) [][]byte { return same(bytes.ToUpper(b)) }},
	{name: "hex", encode: func(b []byte) []byte { return []byte(hex.EncodeToString(b)) }, needles: func(b []byte) [][]byte { return same([]byte(hex.EncodeToString(b))) }},
	{name: "HEX", encode: func(b []byte) []byte { return []byte(strings.ToUpper(hex.EncodeToString(b))) }, needles: func(b []byte) [][]byte {
		return same([]byte(strings.ToUpper(hex.EncodeToString(b))))
	}},
	{name: "base64", encode: b64(base64.StdEncoding), needles: base64Needles(base64.StdEncoding)},
	{name: "base64url", encode: b64(base64.URLEncoding), needles: base64Needles(base64.URLEncoding)},
	{name: "json-quoted", encode: func(b []byte) []byte { j, _ := json.Marshal(string(b)); return j }, needles: func(b []byte) [][]byte {
		j, _ := json.Marshal(string(b))
		return same(j[1 : len(j)-1])
	}},
	{name: "json-unicode-escaped", encode: jsonUnicodeEscape, needles: func(b []byte) [][]byte { return same(jsonUnicodeEscape(b)) }},
	{name: "utf16le", encode: utf16le, needles: func(b []byte) [][]byte { return same(utf16le(b)) }},
	{name: "raw bytes", ofRaw: true, encode: func(b []byte) []byte { return b }, needles: same},
	{name: "base64 of raw bytes", ofRaw: true, encode: b64(base64.StdEncoding), needles: base64Needles(base64.StdEncoding)},
	{name: "base64url of raw bytes", ofRaw: true, encode: b64(base64.URLEncoding), needles: base64Needles(base64.URLEncoding)},
}

// scanner looks for every form of many canaries at once: needles are
// indexed by their first 8 bytes, so a file is read once.
type scanner struct {
	index map[[8]byte][]needle
}

type needle struct {
	pattern []byte
	canary  string
	form    string
}

type hit struct {
	file, canary, form string
	offset             int
}

func newScanner() *scanner { return &scanner{index: map[[8]byte][]needle{}} }

// add registers a canary: text is how it appears in the value the vault is
// given; rawBytes, when not nil, are the bytes the text is the hex of.
func (s *scanner) add(t *testing.T, text string, rawBytes []byte) {
	t.Helper()
	for _, f := range forms {
		src := []byte(text)
		if f.ofRaw {
			if rawBytes == nil {
				continue
			}
			src = rawBytes
		}
		for _, p := range f.needles(src) {
			if len(p) < 8 {
				t.Fatalf("needle %q (%s of %q) is shorter than 8 bytes", p, f.name, text)
			}
			k := [8]byte(p[:8])
			s.index[k] = append(s.index[k], needle{pattern: p, canary: text, form: f.name})
		}
	}
}

func (s *scanner) scan(name string, data []byte) []hit {
	var hits []hit
	for i := 0; i+8 <= len(data); i++ {
		ns, ok := s.index[[8]byte(data[i:i+8])]
		if !ok {
			continue
		}
		for _, n := range ns {
			if bytes.HasPrefix(data[i:], n.pattern) {
				hits = append(hits, hit{file: name, canary: n.canary, form: n.form, offset: i})
			}
		}
	}
	return hits
}

// scanDirs scans every file in dirs and returns the hits and the number of
// bytes read.
func (s *scanner) scanDirs(t *testing.T, dirs ...string) ([]hit, int) {
	t.Helper()
	var hits []hit
	total := 0
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range entries {
			if de.IsDir() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, de.Name()))
			if err != nil {
				t.Fatal(err)
			}
			total += len(b)
			hits = append(hits, s.scan(de.Name(), b)...)
		}
	}
	return hits, total
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestCanaryScannerFindsEveryForm proves the scanner used below can fail:
// a file holding one canary, in any form, at any alignment, inside a longer
// value surrounded by random bytes, is found.
func TestCanaryScannerFindsEveryForm(t *testing.T) {
	t.Parallel()
	c := randomBytes(16)
	text := hex.EncodeToString(c)
	s := newScanner()
	s.add(t, text, c)
	for _, f := range forms {
		for a := range 3 {
			t.Run(fmt.Sprintf("%s/alignment %d", f.name, a), func(t *testing.T) {
				src := []byte(text)
				if f.ofRaw {
					src = c
				}
				value := append(append([]byte(strings.Repeat("p", 3+a)), src...), " suffix"...)
				data := append(append(randomBytes(1000), f.encode(value)...), randomBytes(1000)...)
				path := filepath.Join(t.TempDir(), "leak.bin")
				if err := os.WriteFile(path, data, 0o600); err != nil {
					t.Fatal(err)
				}
				hits, _ := s.scanDirs(t, filepath.Dir(path))
				found := false
				for _, h := range hits {
					found = found || (h.form == f.name && h.canary == text)
				}
				if !found {
					t.Errorf("%s of the canary not found; hits: %v", f.name, hits)
				}
			})
		}
	}
	if hits := s.scan("clean", randomBytes(1<<16)); len(hits) != 0 {
		t.Errorf("random bytes hit: %v", hits)
	}
}

func TestNoPlaintextAtRest(t *testing.T) {
	t.Parallel()
	const subjects = 200
	en := newVault(t, sqlstore.SQLite)
	ctx := t.Context()
	s := newScanner()
	newCanary := func() string {
		c := randomBytes(16)
		text := hex.EncodeToString(c)
		s.add(t, text, c)
		return text
	}
	newPhoneDigits := func() string {
		// A phone holds at most 15 digits: 12 random ones after +49.
		d := make([]byte, 12)
		for i, b := range randomBytes(12) {
			d[i] = '0' + b%10
		}
		s.add(t, string(d), nil)
		return string(d)
	}
	inputs := make([]vault.NewSubject, subjects)
	for i := range inputs {
		inputs[i] = vault.NewSubject{
			ExternalID: "ext-" + newCanary(),
			Email:      "u" + newCanary() + "@example.org",
			Phone:      "+49 " + newPhoneDigits(),
			Data: map[string]json.RawMessage{
				"contact": raw(fmt.Sprintf(`{"name":"Name %s","street":"%s Street"}`, newCanary(), newCanary())),
				"billing": raw(fmt.Sprintf(`{"iban":"%s"}`, newCanary())),
			},
		}
	}
	ids := make([]string, subjects)
	parallel(subjects, 8, func(i int) {
		sub, err := en.v.Create(ctx, staff, inputs[i])
		if err != nil {
			t.Errorf("Create: %v", err)
			return
		}
		ids[i] = sub.ID
	})
	if t.Failed() {
		t.FailNow()
	}
	// Exercise every path that writes personal data: reads, lookups,
	// rectifications (old values go into sealed audit details), data
	// replacement and erasure.
	for i := range 20 {
		mustGet(t, en.v, ids[i])
		if _, err := en.v.Lookup(ctx, staff, vault.KindEmail, inputs[i].Email); err != nil {
			t.Fatal(err)
		}
		if _, err := en.v.Update(ctx, staff, ids[i], vault.Patch{
			Email: ptr("v" + newCanary() + "@example.org"),
			Data:  map[string]json.RawMessage{"contact": raw(fmt.Sprintf(`{"name":"Renamed %s"}`, newCanary()))},
		}); err != nil {
			t.Fatal(err)
		}
		if err := en.v.PutData(ctx, staff, ids[i], "profile", raw(fmt.Sprintf(`{"bio":"%s"}`, newCanary()))); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := en.v.Erase(ctx, staff, ids[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	dirs := []string{filepath.Dir(en.db.Path()), filepath.Dir(en.keysDB.Path())}

	// Before the checkpoint every change is still in the WAL; after it the
	// database files are complete. Neither may hold a canary.
	for _, stage := range []string{"before checkpoint", "after checkpoint"} {
		if stage == "after checkpoint" {
			if err := en.db.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			if err := en.keysDB.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
		hits, scanned := s.scanDirs(t, dirs...)
		if scanned < 100<<10 {
			t.Fatalf("%s: scanned only %d bytes; are the databases where we look?", stage, scanned)
		}
		for i, h := range hits {
			if i == 10 {
				t.Errorf("… %d hits in all", len(hits))
				break
			}
			t.Errorf("%s: canary %s found as %s in %s at offset %d", stage, h.canary, h.form, h.file, h.offset)
		}
	}
}
