package keys

import (
	"crypto/ed25519"
	"regexp"
	"testing"
)

func TestSignCheckpoint(t *testing.T) {
	k := newTestKeyring(t, 1)
	msg := []byte("gdprd checkpoint\nsize 1000\nroot abc\n")
	sig := k.SignCheckpoint(msg)
	pub := k.CheckpointPublicKey()

	if !ed25519.Verify(pub, msg, sig) {
		t.Fatal("signature does not verify with CheckpointPublicKey")
	}
	if ed25519.Verify(pub, []byte("gdprd checkpoint\nsize 999\nroot abc\n"), sig) {
		t.Error("signature verifies for a different message")
	}
	if !pub.Equal(newTestKeyring(t, 1).CheckpointPublicKey()) {
		t.Error("public key differs between keyrings with the same master")
	}
	other := newTestKeyring(t, 2).CheckpointPublicKey()
	if pub.Equal(other) || ed25519.Verify(other, msg, sig) {
		t.Error("another master key's public key verifies the signature")
	}

	pub[0] ^= 0xff
	if !k.CheckpointPublicKey().Equal(newTestKeyring(t, 1).CheckpointPublicKey()) {
		t.Error("modifying the returned public key changed the keyring")
	}
}

func TestCheckpointKeyID(t *testing.T) {
	a := newTestKeyring(t, 1).CheckpointPublicKey()
	b := newTestKeyring(t, 2).CheckpointPublicKey()
	id := CheckpointKeyID(a)
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(id) {
		t.Errorf("CheckpointKeyID = %q, want 16 hex digits", id)
	}
	if id != CheckpointKeyID(a) {
		t.Error("not stable")
	}
	if id == CheckpointKeyID(b) {
		t.Error("two keys share an id")
	}
}
