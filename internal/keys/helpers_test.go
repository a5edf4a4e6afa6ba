package keys

import (
	"bytes"
	"testing"
)

// testMaster returns a fixed 32-byte master key; different fill bytes give
// different, reproducible keyrings.
func testMaster(fill byte) []byte {
	return bytes.Repeat([]byte{fill}, KeySize)
}

// newTestKeyring returns a keyring built from testMaster(fill).
func newTestKeyring(t testing.TB, fill byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(testMaster(fill))
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return k
}

// newTestDataKey returns a keyring with one KEK and a data key wrapped by it.
func newTestDataKey(t testing.TB) (*Keyring, *DataKey) {
	t.Helper()
	k := newTestKeyring(t, 1)
	kekID, _, err := k.NewKEK()
	if err != nil {
		t.Fatalf("NewKEK: %v", err)
	}
	_, _, dk, err := k.NewDataKey(kekID)
	if err != nil {
		t.Fatalf("NewDataKey: %v", err)
	}
	return k, dk
}

// mustSeal seals plaintext or fails the test.
func mustSeal(t testing.TB, dk *DataKey, plaintext []byte, ad ...string) []byte {
	t.Helper()
	sealed, err := dk.Seal(plaintext, ad...)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return sealed
}
