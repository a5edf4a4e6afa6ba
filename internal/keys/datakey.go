package keys

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
)

// ErrDecrypt is the only error Open returns. Whether the ciphertext was
// corrupted, truncated, moved to another row or opened with the wrong key,
// the caller learns nothing more, and never gets partial plaintext.
var ErrDecrypt = errors.New("keys: decryption failed")

// DataKey seals and opens one subject's personal data. It holds the AES-256
// cipher, not the raw key bytes, and is safe for concurrent use.
type DataKey struct {
	id   string
	aead cipher.AEAD
}

func newDataKey(id string, key []byte) (*DataKey, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &DataKey{id: id, aead: aead}, nil
}

// ID returns the data key ID ("dk_" and 32 hex digits). It is not secret.
func (d *DataKey) ID() string { return d.id }

// Seal encrypts plaintext with AES-256-GCM and a fresh random 96-bit nonce.
// The output is 0x01 || nonce (12 bytes) || ciphertext || tag (16 bytes).
//
// The ad parts name the place the value belongs to, for example
// ("subject_data", subjectID, "email"). Open must be given the same parts,
// so a ciphertext copied to another row, field or subject does not open
// (security target CR-3). The data key ID is always bound in as well.
//
// Random nonces are safe for about 2^32 seals per key; one key per subject
// keeps every key far below that. The error is nil today; it is part of the
// signature so that a per-key usage limit (security target CR-4) can be
// enforced later without changing callers.
func (d *DataKey) Seal(plaintext []byte, ad ...string) ([]byte, error) {
	return seal(d.aead, plaintext, d.associatedData(ad)), nil
}

// Open decrypts a value produced by Seal with the same key and ad parts.
// Any failure returns ErrDecrypt and a nil slice.
func (d *DataKey) Open(sealed []byte, ad ...string) ([]byte, error) {
	return open(d.aead, sealed, d.associatedData(ad))
}

// associatedData encodes the format version, the key ID and the caller's
// parts, each part preceded by its length as a uvarint. Length prefixes make
// the encoding unambiguous: ("ab", "c") and ("a", "bc") give different
// bytes, which plain concatenation or a separator would not guarantee.
func (d *DataKey) associatedData(parts []string) []byte {
	n := 1 + binary.MaxVarintLen64 + len(d.id)
	for _, p := range parts {
		n += binary.MaxVarintLen64 + len(p)
	}
	ad := make([]byte, 0, n)
	ad = append(ad, formatV1)
	ad = appendLengthPrefixed(ad, d.id)
	for _, p := range parts {
		ad = appendLengthPrefixed(ad, p)
	}
	return ad
}

func appendLengthPrefixed(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
