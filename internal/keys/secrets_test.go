package keys

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
)

func TestNewAPIKeyParseRoundTrip(t *testing.T) {
	idPattern := regexp.MustCompile(`^ak_[0-9a-f]{16}$`)
	secretPattern := regexp.MustCompile(`^gdprd_ak_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$`)
	seen := map[string]bool{}
	for range 200 {
		id, secret, err := NewAPIKey()
		if err != nil {
			t.Fatal(err)
		}
		if !idPattern.MatchString(id) || !secretPattern.MatchString(secret) {
			t.Fatalf("unexpected shapes: id %q, secret of %d chars", id, len(secret))
		}
		got, ok := ParseAPIKey(secret)
		if !ok || got != id {
			t.Fatalf("ParseAPIKey = %q, %v; want %q, true", got, ok, id)
		}
		if seen[secret] {
			t.Fatal("duplicate secret")
		}
		seen[secret] = true
	}
}

func TestParseAPIKeyRejectsMalformed(t *testing.T) {
	_, secret, err := NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	tail := secret[len(secret)-43:]
	tests := []struct {
		name, secret string
	}{
		{"empty", ""},
		{"prefix only", "gdprd_"},
		{"other product", "other_" + secret[len("gdprd_"):]},
		{"upper-case id", "gdprd_ak_0123456789ABCDEF_" + tail},
		{"short id", "gdprd_ak_0123456789abcde_" + tail + "A"},
		{"wrong id prefix", "gdprd_kk_0123456789abcdef_" + tail},
		{"missing separator", "gdprd_ak_0123456789abcdefX" + tail},
		{"secret too short", secret[:len(secret)-1]},
		{"secret too long", secret + "A"},
		{"std base64 character", secret[:len(secret)-1] + "+"},
		{"non-canonical last character", "gdprd_ak_0123456789abcdef_" + strings.Repeat("A", 42) + "B"},
		{"inner newline", secret[:len(secret)-10] + "\n" + secret[len(secret)-9:]},
		{"trailing newline", secret[:len(secret)-1] + "\n"},
		{"non-ASCII", strings.Replace(secret, "gdprd", "gdprđ", 1)[:len(secret)]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if id, ok := ParseAPIKey(tt.secret); ok {
				t.Errorf("ParseAPIKey(%q) = %q, true; want false", tt.secret, id)
			}
		})
	}
}

func TestHashSecret(t *testing.T) {
	k := newTestKeyring(t, 1)
	_, secret, err := NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	stored := k.HashSecret(secret)
	if len(stored) != 32 {
		t.Fatalf("hash length = %d, want 32", len(stored))
	}
	if !Equal(stored, newTestKeyring(t, 1).HashSecret(secret)) {
		t.Error("HashSecret not stable across keyrings with the same master")
	}
	if bytes.Contains(stored, []byte(secret)) {
		t.Error("hash contains the secret")
	}

	tampered := []byte(secret)
	tampered[len(tampered)-5] ^= 1
	tests := []struct {
		name string
		got  []byte
	}{
		{"tampered secret", k.HashSecret(string(tampered))},
		{"truncated secret", k.HashSecret(secret[:len(secret)-1])},
		{"other master key", newTestKeyring(t, 2).HashSecret(secret)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if Equal(tt.got, stored) {
				t.Error("hash matches the stored hash")
			}
		})
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b []byte
		want bool
	}{
		{"equal", []byte("abc"), []byte("abc"), true},
		{"both empty", nil, []byte{}, true},
		{"last byte differs", []byte("abc"), []byte("abd"), false},
		{"prefix", []byte("ab"), []byte("abc"), false},
		{"empty vs non-empty", nil, []byte("a"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Equal(tt.a, tt.b); got != tt.want {
				t.Errorf("Equal(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestRandomToken(t *testing.T) {
	for _, n := range []int{16, 32, 33, 64} {
		tok, err := RandomToken(n)
		if err != nil {
			t.Fatalf("RandomToken(%d): %v", n, err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != n {
			t.Errorf("RandomToken(%d) = %q: decodes to %d bytes, err %v", n, tok, len(raw), err)
		}
	}
	a, _ := RandomToken(32)
	b, _ := RandomToken(32)
	if a == b {
		t.Error("two tokens are equal")
	}
	for _, n := range []int{-1, 0, 8, 15} {
		if _, err := RandomToken(n); err == nil {
			t.Errorf("RandomToken(%d) accepted a token shorter than 128 bits", n)
		}
	}
}

// FuzzParseAPIKey checks that ParseAPIKey never panics and only accepts
// secrets with exactly the shape NewAPIKey produces.
func FuzzParseAPIKey(f *testing.F) {
	_, secret, err := NewAPIKey()
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"", "gdprd_", secret, secret[:len(secret)-1], secret + "\n",
		"gdprd_ak_0123456789abcdef_" + strings.Repeat("A", 43)} {
		f.Add(seed)
	}
	shape := regexp.MustCompile(`^gdprd_(ak_[0-9a-f]{16})_[A-Za-z0-9_-]{43}$`)
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := ParseAPIKey(s)
		if !ok {
			return
		}
		m := shape.FindStringSubmatch(s)
		if m == nil || m[1] != id {
			t.Fatalf("ParseAPIKey(%q) = %q, true for a malformed secret", s, id)
		}
	})
}
