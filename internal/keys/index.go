package keys

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// BlindIndex returns HMAC-SHA256(blind-index key, kind || 0x00 || normalised),
// 32 bytes. It lets the vault find a subject by e-mail, phone or external ID
// without storing the identifier: equal inputs give equal indexes under one
// master key, and nothing can be learned from the index without that key.
//
// normalised must come from NormalizeEmail, NormalizePhone or
// NormalizeExternalID, otherwise "A@x.org" and "a@x.org" would not match.
// kind (for example "email") separates identifier types, so the same string
// used as a phone and as an external ID gives unrelated indexes. kind is a
// constant chosen by the programmer: it panics if kind is empty or contains
// a NUL byte, since NUL is the separator that keeps the input unambiguous.
func (k *Keyring) BlindIndex(kind, normalised string) []byte {
	return mac(k.blindKey, kind, normalised)
}

// AuditTarget names a subject (or other object) in the audit log without
// plaintext: the hex HMAC-SHA256 of kind || 0x00 || id under the audit-target
// key. It uses its own key so that audit exports reveal nothing that could be
// matched against blind indexes in the database. The same kind rules as
// BlindIndex apply.
func (k *Keyring) AuditTarget(kind, id string) string {
	return hex.EncodeToString(mac(k.auditKey, kind, id))
}

func mac(key []byte, kind, value string) []byte {
	if kind == "" || strings.IndexByte(kind, 0) >= 0 {
		panic("keys: kind must be non-empty and must not contain NUL")
	}
	h := hmac.New(sha256.New, key)
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(value))
	return h.Sum(nil)
}
