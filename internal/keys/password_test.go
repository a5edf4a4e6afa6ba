package keys

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// fastParams keep tests quick; only TestHashPasswordDefaults uses the real cost.
var fastParams = PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func mustHashPassword(t *testing.T, pw string, p PasswordParams) string {
	t.Helper()
	phc, err := HashPassword(pw, p)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	return phc
}

func TestHashPasswordRoundTrip(t *testing.T) {
	tests := []struct {
		name, pw string
	}{
		{"ascii", "correct horse battery staple"},
		{"empty", ""},
		{"unicode passphrase", "Größe ist relativ – 東京タワー 🗼"},
		{"128 characters", strings.Repeat("ab", 64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			phc := mustHashPassword(t, tt.pw, fastParams)
			if !strings.HasPrefix(phc, "$argon2id$v=19$m=64,t=1,p=1$") {
				t.Errorf("PHC string %q has an unexpected prefix", phc)
			}
			ok, rehash, err := VerifyPassword(tt.pw, phc, fastParams)
			if err != nil || !ok || rehash {
				t.Errorf("VerifyPassword = %v, %v, %v; want true, false, nil", ok, rehash, err)
			}
		})
	}
}

func TestVerifyPasswordWrongPassword(t *testing.T) {
	long := strings.Repeat("x", 100)
	phc := mustHashPassword(t, long, fastParams)
	tests := []struct {
		name, pw string
	}{
		{"empty", ""},
		{"other", "hunter2"},
		{"case changed", strings.ToUpper(long)},
		{"change at the 100th character", long[:99] + "y"},
		{"prefix", long[:99]},
		{"suffix added", long + "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := VerifyPassword(tt.pw, phc, fastParams)
			if err != nil || ok || rehash {
				t.Errorf("VerifyPassword = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

func TestHashPasswordUsesFreshSalt(t *testing.T) {
	a := mustHashPassword(t, "same", fastParams)
	b := mustHashPassword(t, "same", fastParams)
	if a == b {
		t.Error("two hashes of the same password are identical")
	}
}

func TestHashPasswordDefaults(t *testing.T) {
	phc := mustHashPassword(t, "a long enough passphrase", DefaultPasswordParams)
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("PHC string %q does not carry the default parameters", phc)
	}
	p, salt, hash, err := decodePHC(phc)
	if err != nil {
		t.Fatal(err)
	}
	if p != DefaultPasswordParams || len(salt) != 16 || len(hash) != 32 {
		t.Errorf("decoded %+v, %d-byte salt, %d-byte hash", p, len(salt), len(hash))
	}
	ok, rehash, err := VerifyPassword("a long enough passphrase", phc, DefaultPasswordParams)
	if err != nil || !ok || rehash {
		t.Errorf("VerifyPassword = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestHashPasswordRejectsBadParams(t *testing.T) {
	tests := []struct {
		name string
		p    PasswordParams
	}{
		{"zero", PasswordParams{}},
		{"no threads", PasswordParams{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32}},
		{"no time", PasswordParams{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"memory below 8 KiB per lane", PasswordParams{Memory: 15, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}},
		{"short salt", PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}},
		{"short key", PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if phc, err := HashPassword("pw", tt.p); err == nil {
				t.Errorf("HashPassword accepted %+v: %q", tt.p, phc)
			}
		})
	}
}

func TestVerifyPasswordNeedsRehash(t *testing.T) {
	stored := PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	phc := mustHashPassword(t, "pw", stored)
	tests := []struct {
		name string
		want PasswordParams
		need bool
	}{
		{"same", stored, false},
		{"lower wanted", PasswordParams{Memory: 32, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}, false},
		{"more memory", PasswordParams{Memory: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"more time", PasswordParams{Memory: 64, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"more threads", PasswordParams{Memory: 64, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
		{"longer salt", PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 32, KeyLen: 32}, true},
		{"longer key", PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 64}, true},
		{"defaults", DefaultPasswordParams, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := VerifyPassword("pw", phc, tt.want)
			if err != nil || !ok || rehash != tt.need {
				t.Errorf("VerifyPassword = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.need)
			}
		})
	}
	t.Run("not on wrong password", func(t *testing.T) {
		ok, rehash, err := VerifyPassword("wrong", phc, DefaultPasswordParams)
		if err != nil || ok || rehash {
			t.Errorf("VerifyPassword = %v, %v, %v; want false, false, nil", ok, rehash, err)
		}
	})
}

func TestVerifyPasswordMalformedPHC(t *testing.T) {
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	hash := base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	good := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + hash
	tests := []struct {
		name, phc string
	}{
		{"empty", ""},
		{"dollar only", "$"},
		{"bcrypt", "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ012"},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"no leading dollar", good[1:]},
		{"missing hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"extra field", good + "$x"},
		{"version 16", strings.Replace(good, "v=19", "v=16", 1)},
		{"missing version", strings.Replace(good, "$v=19", "", 1)},
		{"params reordered", strings.Replace(good, "m=64,t=1,p=1", "t=1,m=64,p=1", 1)},
		{"missing param", strings.Replace(good, "m=64,t=1,p=1", "m=64,t=1", 1)},
		{"extra param", strings.Replace(good, "m=64,t=1,p=1", "m=64,t=1,p=1,k=1", 1)},
		{"non-numeric", strings.Replace(good, "m=64", "m=x", 1)},
		{"negative", strings.Replace(good, "t=1", "t=-1", 1)},
		{"plus sign", strings.Replace(good, "t=1", "t=+1", 1)},
		{"leading zero", strings.Replace(good, "m=64", "m=064", 1)},
		{"empty value", strings.Replace(good, "m=64", "m=", 1)},
		{"zero time", strings.Replace(good, "t=1", "t=0", 1)},
		{"zero threads", strings.Replace(good, "p=1", "p=0", 1)},
		{"threads overflow uint8", strings.Replace(good, "p=1", "p=256", 1)},
		{"memory overflow uint32", strings.Replace(good, "m=64", "m=4294967296", 1)},
		{"memory bomb", strings.Replace(good, "m=64", "m=4294967295", 1)},
		{"time bomb", strings.Replace(good, "t=1", "t=4294967295", 1)},
		{"memory below 8 KiB per lane", strings.Replace(good, "m=64,t=1,p=1", "m=8,t=1,p=2", 1)},
		{"padded salt", "$argon2id$v=19$m=64,t=1,p=1$" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdefg")) + "$" + hash},
		{"salt not base64", "$argon2id$v=19$m=64,t=1,p=1$!!!!$" + hash},
		{"short salt", "$argon2id$v=19$m=64,t=1,p=1$" + base64.RawStdEncoding.EncodeToString([]byte("1234")) + "$" + hash},
		{"empty salt", "$argon2id$v=19$m=64,t=1,p=1$$" + hash},
		{"short hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + base64.RawStdEncoding.EncodeToString([]byte("short"))},
		{"empty hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"line break in hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + hash[:20] + "\n" + hash[20:]},
		{"url base64 hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("_", 43)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := VerifyPassword("pw", tt.phc, fastParams)
			if !errors.Is(err, ErrMalformedHash) || ok || rehash {
				t.Errorf("VerifyPassword(%q) = %v, %v, %v; want false, false, ErrMalformedHash", tt.phc, ok, rehash, err)
			}
		})
	}
	t.Run("control: well-formed string parses", func(t *testing.T) {
		if _, _, err := VerifyPassword("pw", good, fastParams); err != nil {
			t.Errorf("VerifyPassword(%q): %v", good, err)
		}
	})
}

// TestPasswordKnownAnswer computes argon2id directly with x/crypto for a
// fixed salt and checks that the PHC encoder writes exactly the standard
// string and the decoder gets the same salt and hash bytes back.
func TestPasswordKnownAnswer(t *testing.T) {
	salt := []byte("fixed-salt-16byt")
	p := PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: uint32(len(salt)), KeyLen: 32}
	want := argon2.IDKey([]byte("password"), salt, 1, 64, 1, 32)

	phc := hashWithSalt("password", salt, p)
	wantPHC := fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(want))
	if phc != wantPHC {
		t.Fatalf("PHC = %q, want %q", phc, wantPHC)
	}
	gotParams, gotSalt, gotHash, err := decodePHC(phc)
	if err != nil {
		t.Fatal(err)
	}
	if gotParams != p || !bytes.Equal(gotSalt, salt) || !bytes.Equal(gotHash, want) {
		t.Errorf("decodePHC = %+v, %x, %x; want %+v, %x, %x", gotParams, gotSalt, gotHash, p, salt, want)
	}
}

// TestVerifyPasswordReferenceVector checks interoperability with a hash
// produced by the Argon2 reference implementation (phc-winner-argon2,
// src/test.c): password "password", salt "somesalt", m=256, t=2, p=1.
func TestVerifyPasswordReferenceVector(t *testing.T) {
	const reference = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	want := PasswordParams{Memory: 256, Time: 2, Threads: 1, SaltLen: 8, KeyLen: 32}

	ok, rehash, err := VerifyPassword("password", reference, want)
	if err != nil || !ok || rehash {
		t.Errorf("VerifyPassword(reference) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	if ok, _, _ := VerifyPassword("passwore", reference, want); ok {
		t.Error("reference hash accepted a wrong password")
	}
	if got := hashWithSalt("password", []byte("somesalt"), want); got != reference {
		t.Errorf("hashWithSalt = %q, want the reference %q", got, reference)
	}
	ok, rehash, err = VerifyPassword("password", reference, fastParams)
	if err != nil || !ok || !rehash {
		t.Errorf("an 8-byte salt is below fastParams: VerifyPassword = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
}

// FuzzDecodePHC checks that parsing stored hashes never panics and that
// everything it accepts is within the bounds that keep verification cheap
// enough, and re-encodes to the same string.
func FuzzDecodePHC(f *testing.F) {
	for _, seed := range []string{
		"", "$", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2id$v=19$m=4294967295,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2id$v=19$m=64,t=1,p=1$$", "$argon2id$v=19$m=,t=,p=$x$y",
		"$argon2id$v=19$m=10,t=1,p=1$00000000000$00000000000000000000\r000",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, hash, err := decodePHC(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("decodePHC(%q) error %v does not wrap ErrMalformedHash", s, err)
			}
			return
		}
		if err := p.validate(); err != nil {
			t.Fatalf("decodePHC(%q) accepted out-of-bounds params: %v", s, err)
		}
		if got := encodePHC(p, salt, hash); got != s {
			t.Fatalf("decodePHC(%q) re-encodes to %q", s, got)
		}
	})
}
