package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
)

func validCheckpointJSON(t testing.TB) []byte {
	t.Helper()
	data, err := json.Marshal(signedCheckpoint(signer, 42, bytes.Repeat([]byte{0xc3}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestCheckpointJSON(t *testing.T) {
	data := validCheckpointJSON(t)
	for _, field := range []string{`"seq":42`, `"hash":"c3c3`, `"at":"2026-02-01T00:00:00.123456Z"`, `"key_id":"test-key"`, `"signature":"`} {
		if !bytes.Contains(data, []byte(field)) {
			t.Errorf("exported checkpoint %s lacks %s", data, field)
		}
	}
}

func TestParseCheckpoint(t *testing.T) {
	valid := string(validCheckpointJSON(t))
	tests := []struct {
		name  string
		input string
		ok    bool
	}{
		{"valid", valid, true},
		{"valid with surrounding space", "\n " + valid + "\n", true},
		{"unknown field", strings.Replace(valid, `"seq"`, `"size":1,"seq"`, 1), false},
		{"trailing data", valid + "{}", false},
		{"two objects", valid + valid, false},
		{"negative seq", strings.Replace(valid, `"seq":42`, `"seq":-42`, 1), false},
		{"short hash", strings.Replace(valid, `"hash":"c3c3`, `"hash":"c3`, 1), false},
		{"hash not hex", strings.Replace(valid, `"hash":"c3c3`, `"hash":"zzc3`, 1), false},
		{"no signature", strings.Replace(valid, `"signature":"`, `"signature":"","x":"`, 1), false},
		{"no time", strings.Replace(valid, `"at":"2026-02-01T00:00:00.123456Z"`, `"at":"0001-01-01T00:00:00Z"`, 1), false},
		{"not JSON", "seq=42", false},
		{"empty", "", false},
		{"null", "null", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp, err := ParseCheckpoint([]byte(tt.input))
			if (err == nil) != tt.ok {
				t.Fatalf("ParseCheckpoint: err = %v, want ok %v", err, tt.ok)
			}
			if tt.ok {
				if err := cp.VerifySignature(signer.CheckpointPublicKey()); err != nil {
					t.Errorf("parsed checkpoint does not verify: %v", err)
				}
			}
		})
	}
}

// FuzzCheckpoint feeds arbitrary bytes to the checkpoint parser and the
// signature check: neither may panic, and whatever verifies must survive an
// export and re-import unchanged (no field is lost or reinterpreted).
func FuzzCheckpoint(f *testing.F) {
	valid := validCheckpointJSON(f)
	f.Add(valid)
	f.Add(bytes.Replace(valid, []byte(`Z"`), []byte(`+02:00"`), 1))
	f.Add([]byte(`{"seq":-1,"hash":"","at":"2026-01-01T00:00:00Z","key_id":"","signature":""}`))
	f.Add([]byte(`{"seq":9223372036854775807,"hash":"00","at":"9999-12-31T23:59:59.999999999Z"}`))
	f.Add([]byte(`{"hash":"0"}`))
	f.Add([]byte(`[]`))
	pub := signer.CheckpointPublicKey()
	f.Fuzz(func(t *testing.T, data []byte) {
		var loose Checkpoint
		if json.Unmarshal(data, &loose) == nil {
			loose.Message()
			for _, key := range []ed25519.PublicKey{pub, nil, pub[:31], append(pub, 0)} {
				_ = loose.VerifySignature(key)
			}
		}
		cp, err := ParseCheckpoint(data)
		if err != nil || cp.VerifySignature(pub) != nil {
			return
		}
		out, err := json.Marshal(cp)
		if err != nil {
			t.Fatalf("a verified checkpoint does not export: %v", err)
		}
		back, err := ParseCheckpoint(out)
		if err != nil {
			t.Fatalf("re-import of %s: %v", out, err)
		}
		if err := back.VerifySignature(pub); err != nil || !bytes.Equal(back.Message(), cp.Message()) {
			t.Fatalf("re-imported checkpoint changed: %s -> %s (%v)", data, out, err)
		}
	})
}
