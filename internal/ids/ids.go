// Package ids makes the random identifiers of gdprd's records (sub_…,
// req_…, job_…): a prefix naming the kind of record, then 128 random bits
// in lower-case base32. They carry no information about the person or the
// time, so they can appear in URLs and logs.
package ids

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// randomLen is the length of the random part: 128 bits in base32.
const randomLen = 26

var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// New returns prefix followed by 128 random bits.
func New(prefix string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return prefix + strings.ToLower(encoding.EncodeToString(b[:]))
}

// Valid reports whether id has the shape New gives for prefix, so callers
// can answer a malformed id as "not found" without asking the database.
func Valid(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(rest) != randomLen {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
