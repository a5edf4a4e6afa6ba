package keys

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are the argon2id cost parameters. They are stored in every
// hash (PHC string format), so they can be raised later without breaking
// existing hashes; VerifyPassword reports when a hash should be redone.
type PasswordParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over memory
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes of hash output
}

// DefaultPasswordParams is the OWASP minimum for argon2id (19 MiB, t=2,
// p=1), also required by security target AU-5. Raise Memory or Time, never
// lower them.
var DefaultPasswordParams = PasswordParams{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// ErrMalformedHash is wrapped by VerifyPassword when the stored string is not
// an argon2id PHC string this package accepts.
var ErrMalformedHash = errors.New("keys: malformed password hash")

// Bounds on parameters read from a stored hash. A hash is data, and a
// corrupted or planted one must not make the server allocate gigabytes or
// spin for minutes while checking a login.
const (
	minSaltLen   = 8
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 64
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 64
)

// HashPassword hashes a password with argon2id and a random salt and returns
// a PHC string such as
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// with salt and hash in unpadded standard base64. The password is used
// whole: nothing is truncated.
func HashPassword(pw string, p PasswordParams) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	return hashWithSalt(pw, salt, p), nil
}

func hashWithSalt(pw string, salt []byte, p PasswordParams) string {
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encodePHC(p, salt, key)
}

// VerifyPassword checks pw against a PHC string made by HashPassword (or any
// argon2id v=19 implementation). The hash is compared in constant time.
//
// needsRehash is true when the password matched and any stored parameter is
// below want: the caller should then store HashPassword(pw, want), while it
// has the plaintext at hand. A malformed or out-of-bounds PHC string returns
// an error wrapping ErrMalformedHash; it never panics.
func VerifyPassword(pw, phc string, want PasswordParams) (ok bool, needsRehash bool, err error) {
	p, salt, hash, err := decodePHC(phc)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	if !Equal(got, hash) {
		return false, false, nil
	}
	return true, p.below(want), nil
}

// below reports whether any cost parameter of p is lower than in want.
func (p PasswordParams) below(want PasswordParams) bool {
	return p.Memory < want.Memory || p.Time < want.Time || p.Threads < want.Threads ||
		p.SaltLen < want.SaltLen || p.KeyLen < want.KeyLen
}

// validate checks parameters before hashing with them. argon2 needs at
// least 8 KiB of memory per lane.
func (p PasswordParams) validate() error {
	switch {
	case p.Threads < 1:
		return errors.New("keys: argon2 threads must be at least 1")
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("keys: argon2 time must be 1..%d", maxTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemoryKiB:
		return fmt.Errorf("keys: argon2 memory must be %d..%d KiB", 8*uint32(p.Threads), maxMemoryKiB)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("keys: salt length must be %d..%d bytes", minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("keys: key length must be %d..%d bytes", minKeyLen, maxKeyLen)
	}
	return nil
}

func encodePHC(p PasswordParams, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(key))
}

// decodePHC parses "$argon2id$v=19$m=M,t=T,p=P$salt$hash". Parameters must
// appear in that order, as every argon2 implementation writes them.
func decodePHC(s string) (p PasswordParams, salt, hash []byte, err error) {
	fail := func(why string) (PasswordParams, []byte, []byte, error) {
		return PasswordParams{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformedHash, why)
	}
	fields := strings.Split(s, "$")
	if len(fields) != 6 || fields[0] != "" {
		return fail("want 5 '$'-separated fields")
	}
	if fields[1] != "argon2id" {
		return fail("algorithm is not argon2id")
	}
	if fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("unsupported argon2 version")
	}

	params := strings.Split(fields[3], ",")
	if len(params) != 3 {
		return fail("want parameters m, t and p")
	}
	m, err1 := parseParam(params[0], "m", 32)
	t, err2 := parseParam(params[1], "t", 32)
	threads, err3 := parseParam(params[2], "p", 8)
	if err := errors.Join(err1, err2, err3); err != nil {
		return fail(err.Error())
	}

	// The base64 decoder skips '\r' and '\n'; refuse them so that one hash
	// has exactly one spelling.
	if strings.ContainsAny(fields[4]+fields[5], "\r\n") {
		return fail("line break in salt or hash")
	}
	enc := base64.RawStdEncoding.Strict()
	salt, err = enc.DecodeString(fields[4])
	if err != nil {
		return fail("salt is not unpadded standard base64")
	}
	hash, err = enc.DecodeString(fields[5])
	if err != nil {
		return fail("hash is not unpadded standard base64")
	}

	p = PasswordParams{
		Memory:  uint32(m),
		Time:    uint32(t),
		Threads: uint8(threads),
		SaltLen: uint32(len(salt)),
		KeyLen:  uint32(len(hash)),
	}
	if err := p.validate(); err != nil {
		return fail(strings.TrimPrefix(err.Error(), "keys: "))
	}
	return p, salt, hash, nil
}

// parseParam parses "name=decimal" with no sign and no leading zeros.
func parseParam(field, name string, bits int) (uint64, error) {
	value, ok := strings.CutPrefix(field, name+"=")
	if !ok {
		return 0, fmt.Errorf("want parameter %s", name)
	}
	if value == "" || (value[0] == '0' && len(value) > 1) || value[0] < '0' || value[0] > '9' {
		return 0, fmt.Errorf("parameter %s is not a canonical number", name)
	}
	n, err := strconv.ParseUint(value, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("parameter %s is out of range", name)
	}
	return n, nil
}
