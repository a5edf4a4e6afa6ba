package keys

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestBlindIndex(t *testing.T) {
	k := newTestKeyring(t, 1)
	base := k.BlindIndex("email", "ann@example.org")

	t.Run("deterministic and 32 bytes", func(t *testing.T) {
		if len(base) != 32 {
			t.Fatalf("length = %d, want 32", len(base))
		}
		again := newTestKeyring(t, 1).BlindIndex("email", "ann@example.org")
		if !bytes.Equal(base, again) {
			t.Error("same master, kind and value gave different indexes")
		}
	})

	tests := []struct {
		name string
		got  []byte
	}{
		{"other value", k.BlindIndex("email", "bob@example.org")},
		{"other kind", k.BlindIndex("external_id", "ann@example.org")},
		{"other keyring", newTestKeyring(t, 2).BlindIndex("email", "ann@example.org")},
		{"kind/value boundary moved", k.BlindIndex("emai", "lann@example.org")},
	}
	for _, tt := range tests {
		t.Run(tt.name+" differs", func(t *testing.T) {
			if bytes.Equal(tt.got, base) {
				t.Error("index equals the base index")
			}
		})
	}
}

func TestBlindIndexRejectsBadKind(t *testing.T) {
	k := newTestKeyring(t, 1)
	for _, kind := range []string{"", "email\x00"} {
		t.Run(hex.EncodeToString([]byte(kind)), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("BlindIndex(%q, ...) did not panic", kind)
				}
			}()
			k.BlindIndex(kind, "x")
		})
	}
}

func TestAuditTarget(t *testing.T) {
	k := newTestKeyring(t, 1)
	got := k.AuditTarget("subject", "sub_123")
	raw, err := hex.DecodeString(got)
	if err != nil || len(raw) != 32 {
		t.Fatalf("AuditTarget = %q, want 64 hex digits", got)
	}
	if got != newTestKeyring(t, 1).AuditTarget("subject", "sub_123") {
		t.Error("not deterministic across keyrings with the same master")
	}
	if got == k.AuditTarget("subject", "sub_124") || got == k.AuditTarget("staff", "sub_123") ||
		got == newTestKeyring(t, 2).AuditTarget("subject", "sub_123") {
		t.Error("AuditTarget does not depend on id, kind and master")
	}
	// A separate key: an audit export must not be matchable against the
	// blind indexes stored in the database.
	if bytes.Equal(raw, k.BlindIndex("subject", "sub_123")) {
		t.Error("AuditTarget equals the blind index of the same input")
	}
}
