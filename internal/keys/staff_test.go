package keys

import (
	"bytes"
	"testing"
)

func TestSealStaff(t *testing.T) {
	k := newTestKeyring(t, 1)
	sealed := k.SealStaff([]byte("ada@example.org"), "staff", "stf_1", "email")
	if bytes.Contains(sealed, []byte("ada@")) {
		t.Fatal("plaintext in the sealed value")
	}
	if again := k.SealStaff([]byte("ada@example.org"), "staff", "stf_1", "email"); bytes.Equal(again, sealed) {
		t.Fatal("two seals of one value are equal (nonce reuse)")
	}
	got, err := k.OpenStaff(sealed, "staff", "stf_1", "email")
	if err != nil || string(got) != "ada@example.org" {
		t.Fatalf("open: %q %v", got, err)
	}
	for name, open := range map[string]func() ([]byte, error){
		"other row":    func() ([]byte, error) { return k.OpenStaff(sealed, "staff", "stf_2", "email") },
		"other field":  func() ([]byte, error) { return k.OpenStaff(sealed, "staff", "stf_1", "totp") },
		"other master": func() ([]byte, error) { return newTestKeyring(t, 2).OpenStaff(sealed, "staff", "stf_1", "email") },
	} {
		if _, err := open(); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}
