package audit

import (
	"crypto/sha256"
	"encoding/binary"
)

// hashDomain starts every encoded event, so an event hash can never be
// mistaken for a hash of anything else gdprd computes, and so a future
// encoding can change the string and coexist.
const hashDomain = "gdprd-audit-v1"

// The first event's prev_hash, the genesis hash, is sha256.Size zero bytes,
// as seeded in the audit_head row by the schema.

// hasher computes event hashes, reusing one encoding buffer so that
// verifying a long log does not allocate per event.
type hasher struct {
	buf []byte
}

// sum returns the hash of e: SHA-256 over the domain string, seq and at (unix
// microseconds), each 8 bytes big-endian, then actor, action, purpose,
// target, result, key id and details, each prefixed with its length in 4
// bytes big-endian, then prev_hash. The length prefixes make the encoding
// unambiguous: no two different events encode to the same bytes. ok is false
// when a field is too long to prefix, which Append never allows.
func (h *hasher) sum(e *Event) (sum [sha256.Size]byte, ok bool) {
	b := append(h.buf[:0], hashDomain...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(e.At.UnixMicro()))
	for _, s := range [...]string{e.Actor, e.Action, e.Purpose, e.Target, e.Result, e.KeyID} {
		if uint64(len(s)) > maxField {
			return sum, false
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	if uint64(len(e.Details)) > maxField {
		return sum, false
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Details)))
	b = append(b, e.Details...)
	b = append(b, e.PrevHash...)
	h.buf = b
	return sha256.Sum256(b), true
}
