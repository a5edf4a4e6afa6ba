package keys

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
)

// SignCheckpoint signs an audit-log checkpoint with the Ed25519 key derived
// from the master key. The private key never leaves the Keyring, so it
// cannot end up in the database (security target AL-4), and it survives
// restarts and restores as long as the master key does.
func (k *Keyring) SignCheckpoint(msg []byte) []byte {
	return ed25519.Sign(k.signer, msg)
}

// CheckpointPublicKey returns the public key that verifies SignCheckpoint
// signatures, for publishing next to exported checkpoints. The returned
// slice is a copy.
func (k *Keyring) CheckpointPublicKey() ed25519.PublicKey {
	return append(ed25519.PublicKey(nil), k.publicKey...)
}

// CheckpointKeyID returns a short, stable name for a checkpoint public key:
// the first 16 hex digits of its SHA-256. Checkpoints carry it so a verifier
// holding several keys (after a master key change) knows which to use.
func CheckpointKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}
