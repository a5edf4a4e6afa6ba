package keys

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"
)

// API keys look like
//
//	gdprd_ak_0123456789abcdef_<43 characters of base64url>
//
// The fixed "gdprd_" prefix lets secret scanners recognise a leaked key. The
// ID has a fixed length, so it can be cut out of the secret even though the
// base64url part may itself contain '_'.
const (
	apiKeyPrefix   = "gdprd_"
	apiKeyIDPrefix = "ak_"
	apiKeyIDBytes  = 8  // 16 hex digits
	apiKeyBytes    = 32 // 256-bit secret
)

var (
	apiKeyIDLen     = len(apiKeyIDPrefix) + 2*apiKeyIDBytes
	apiKeySecretLen = base64.RawURLEncoding.EncodedLen(apiKeyBytes) // 43
	apiKeyLen       = len(apiKeyPrefix) + apiKeyIDLen + 1 + apiKeySecretLen
)

// minTokenBytes is the smallest token RandomToken makes: 128 bits, the
// session-token floor in security target AU-6.
const minTokenBytes = 16

// NewAPIKey mints an API key. The secret is shown to the user once; the
// caller stores id in clear (to find the row) and HashSecret(secret) to check
// it, never the secret itself.
func NewAPIKey() (id, secret string, err error) {
	id = apiKeyIDPrefix + randomHex(apiKeyIDBytes)
	b := make([]byte, apiKeyBytes)
	rand.Read(b)
	secret = apiKeyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(b)
	return id, secret, nil
}

// ParseAPIKey extracts the key ID from a secret made by NewAPIKey, so the
// caller can look up the stored hash. ok is false if the secret does not have
// the exact shape NewAPIKey produces. A well-formed secret still has to be
// checked with HashSecret and Equal.
func ParseAPIKey(secret string) (id string, ok bool) {
	if len(secret) != apiKeyLen || !strings.HasPrefix(secret, apiKeyPrefix) {
		return "", false
	}
	rest := secret[len(apiKeyPrefix):]
	id, tail := rest[:apiKeyIDLen], rest[apiKeyIDLen:]
	if !validID(id, apiKeyIDPrefix, apiKeyIDBytes) || tail[0] != '_' {
		return "", false
	}
	// Strict decoding rejects non-canonical encodings, so one key has
	// exactly one valid spelling. The decoder skips '\r' and '\n', which
	// the length check alone would not catch.
	encoded := tail[1:]
	if strings.ContainsAny(encoded, "\r\n") {
		return "", false
	}
	if b, err := base64.RawURLEncoding.Strict().DecodeString(encoded); err != nil || len(b) != apiKeyBytes {
		return "", false
	}
	return id, true
}

// HashSecret returns HMAC-SHA256 of secret under the token key, for storing
// API keys and session or hand-off tokens. A fast MAC is right here because
// these secrets carry 128 bits or more of entropy and cannot be guessed;
// argon2id is for low-entropy passwords. Keying the hash means a stolen
// database alone does not even allow offline checks. Compare with Equal.
func (k *Keyring) HashSecret(secret string) []byte {
	h := k.tokenMACs.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(secret))
	sum := h.Sum(nil)
	k.tokenMACs.Put(h)
	return sum
}

// Equal reports whether a and b are equal in time that does not depend on
// their contents (security target CR-8). Use it for every comparison of
// secrets, MACs and hashes; it may leak the lengths.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

// RandomToken returns nBytes from crypto/rand in unpadded base64url, safe in
// URLs and cookies. nBytes below 16 (128 bits) is refused, because shorter
// tokens can be guessed online.
func RandomToken(nBytes int) (string, error) {
	if nBytes < minTokenBytes {
		return "", fmt.Errorf("keys: token of %d bytes is too short, minimum %d", nBytes, minTokenBytes)
	}
	b := make([]byte, nBytes)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b), nil
}
