package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP follows RFC 6238 with the parameters every authenticator app
// understands: SHA-1, 6 digits, 30-second steps. One step either side is
// accepted for clock drift.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	totpSkew   = 1
)

var totpOptions = totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}

// TOTPKey is a new second factor to show once: the secret (base32, for
// manual entry) and the otpauth:// URI the QR code encodes.
type TOTPKey struct {
	Secret string
	URI    string
}

// NewTOTP makes a 160-bit TOTP secret for account at issuer.
func NewTOTP(issuer, account string) (TOTPKey, error) {
	k, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Period: totpPeriod, SecretSize: 20,
		Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return TOTPKey{}, fmt.Errorf("new totp: %w", err)
	}
	return TOTPKey{Secret: k.Secret(), URI: k.URL()}, nil
}

// TOTPStep is the RFC 6238 time step of t.
func TOTPStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// VerifyTOTP checks code against secret at now. It accepts the previous,
// current and next step, but only a step after lastStep: a code, once
// accepted, is refused for the rest of its window (RFC 6238 §5.2), and so
// is any older one. It returns the matched step, which the caller stores
// as the new lastStep in the same transaction as the sign-in.
func VerifyTOTP(secret, code string, now time.Time, lastStep int64) (step int64, ok bool) {
	code = strings.TrimSpace(code)
	if len(code) != int(totpDigits) {
		return 0, false
	}
	cur := TOTPStep(now)
	for s := cur - totpSkew; s <= cur+totpSkew; s++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totpOptions)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && s > lastStep {
			return s, true
		}
	}
	return 0, false
}

// recoveryEncoding avoids characters people confuse (0/O, 1/I).
var recoveryEncoding = base32.NewEncoding("ABCDEFGHJKLMNPQRSTUVWXYZ23456789").WithPadding(base32.NoPadding)

// NewRecoveryCodes returns n single-use recovery codes of 50 random bits,
// written as xxxxx-xxxxx. Store only their HMAC (keys.Keyring.HashSecret)
// and delete one when it is used.
func NewRecoveryCodes(n int) ([]string, error) {
	codes := make([]string, n)
	for i := range codes {
		var b [7]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		s := recoveryEncoding.EncodeToString(b[:])[:10]
		codes[i] = s[:5] + "-" + s[5:]
	}
	return codes, nil
}

// NormalizeRecoveryCode makes a typed code comparable: upper case, no
// spaces or dashes.
func NormalizeRecoveryCode(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
}
