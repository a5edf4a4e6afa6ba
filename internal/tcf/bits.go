package tcf

import (
	"errors"
	"fmt"
	"strings"
)

// ErrMalformed is wrapped by every decoding error: the string is not a
// well-formed TC or GPP string. Callers answer it as bad input.
var ErrMalformed = errors.New("malformed consent string")

// MaxLength bounds the strings we accept. A TC string with a bitfield for
// every possible vendor id is about 11,000 characters; anything far longer
// is not a consent string.
const MaxLength = 32 << 10

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// bitReader reads big-endian bit fields from a base64url segment, the
// encoding both IAB formats use. Each character carries 6 bits; segments
// need not fill whole bytes (a GPP header like "DBABM" is 30 bits), so the
// characters are unpacked one by one rather than with a byte decoder.
type bitReader struct {
	buf []byte
	n   int // bits available
	pos int // in bits
}

const base64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func newBitReader(segment string) (*bitReader, error) {
	segment = strings.TrimRight(segment, "=")
	if segment == "" {
		return nil, malformed("empty segment")
	}
	r := &bitReader{buf: make([]byte, (len(segment)*6+7)/8), n: len(segment) * 6}
	for i := 0; i < len(segment); i++ {
		v := strings.IndexByte(base64URL, segment[i])
		if v < 0 {
			return nil, malformed("segment is not base64url: %q at %d", segment[i], i)
		}
		for b := 5; b >= 0; b-- {
			bit := i*6 + 5 - b
			r.buf[bit>>3] |= byte(v>>b&1) << uint(7-bit&7)
		}
	}
	return r, nil
}

func (r *bitReader) remaining() int { return r.n - r.pos }

// uint reads an n-bit unsigned integer (n ≤ 64).
func (r *bitReader) uint(n int, field string) (uint64, error) {
	if n > r.remaining() {
		return 0, malformed("truncated at %s", field)
	}
	var v uint64
	for i := 0; i < n; i++ {
		byteAt, bit := r.buf[r.pos>>3], 7-uint(r.pos&7)
		v = v<<1 | uint64(byteAt>>bit&1)
		r.pos++
	}
	return v, nil
}

func (r *bitReader) int(n int, field string) (int, error) {
	v, err := r.uint(n, field)
	return int(v), err
}

func (r *bitReader) bool(field string) (bool, error) {
	v, err := r.uint(1, field)
	return v == 1, err
}

// letters reads n 6-bit letters ('A' = 0), the encoding of languages and
// country codes.
func (r *bitReader) letters(n int, field string) (string, error) {
	out := make([]byte, n)
	for i := range out {
		v, err := r.uint(6, field)
		if err != nil {
			return "", err
		}
		if v > 25 {
			return "", malformed("%s: %d is not a letter", field, v)
		}
		out[i] = byte('A' + v)
	}
	return string(out), nil
}

// bitfield reads n bits where bit i set means id i+1 is in the set.
func (r *bitReader) bitfield(n int, field string) ([]int, error) {
	if n > r.remaining() {
		return nil, malformed("truncated at %s", field)
	}
	var ids []int
	for i := 1; i <= n; i++ {
		on, _ := r.bool(field)
		if on {
			ids = append(ids, i)
		}
	}
	return ids, nil
}

// idSet collects vendor ids from range entries. Ranges may overlap and
// come in any order, and a hostile string could name 4,095 ranges of
// 65,535 ids each: a fixed bitset keeps memory bounded at 8 KiB whatever
// the input says.
type idSet [65536 / 64]uint64

func (s *idSet) addRange(from, to int) {
	for id := from; id <= to; id++ {
		s[id>>6] |= 1 << uint(id&63)
	}
}

func (s *idSet) sorted() []int {
	var ids []int
	for w, word := range s {
		for word != 0 {
			b := 0
			for word&(1<<uint(b)) == 0 {
				b++
			}
			ids = append(ids, w*64+b)
			word &^= 1 << uint(b)
		}
	}
	return ids
}

// rangeEntries reads NumEntries(12) × {IsARange(1), Start(16), [End(16)]},
// the TCF range encoding, refusing ids of 0 or above max (max ≤ 0 means no
// upper bound is known).
func (r *bitReader) rangeEntries(max int, field string) ([]int, error) {
	n, err := r.int(12, field)
	if err != nil {
		return nil, err
	}
	var set idSet
	for i := 0; i < n; i++ {
		isRange, err := r.bool(field)
		if err != nil {
			return nil, err
		}
		start, err := r.int(16, field)
		if err != nil {
			return nil, err
		}
		end := start
		if isRange {
			if end, err = r.int(16, field); err != nil {
				return nil, err
			}
		}
		if start < 1 || end < start || (max > 0 && end > max) {
			return nil, malformed("%s: range %d-%d outside 1-%d", field, start, end, max)
		}
		set.addRange(start, end)
	}
	return set.sorted(), nil
}

// vendorVector reads MaxVendorId(16), IsRangeEncoding(1) and then either a
// bitfield of MaxVendorId bits or range entries.
func (r *bitReader) vendorVector(field string) ([]int, error) {
	max, err := r.int(16, field)
	if err != nil {
		return nil, err
	}
	isRange, err := r.bool(field)
	if err != nil {
		return nil, err
	}
	if isRange {
		return r.rangeEntries(max, field)
	}
	return r.bitfield(max, field)
}

// fibonacci reads one Fibonacci-coded integer (GPP): bits weighted
// 1, 2, 3, 5, 8… ending at the first two consecutive ones.
func (r *bitReader) fibonacci(field string) (int, error) {
	const maxBits = 40 // F(41) ≈ 1.6e8: far beyond any section id
	a, b := 1, 2
	sum, prev := 0, false
	for i := 0; i < maxBits; i++ {
		on, err := r.bool(field)
		if err != nil {
			return 0, err
		}
		if on && prev {
			return sum, nil
		}
		if on {
			sum += a
		}
		prev = on
		a, b = b, a+b
	}
	return 0, malformed("%s: Fibonacci code longer than %d bits", field, maxBits)
}
