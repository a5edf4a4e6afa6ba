package keys

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Normalisation turns the many ways a person writes an identifier into one
// canonical string before it is blind-indexed, so lookups find the subject
// whichever spelling is used. The vault and every lookup path must use these
// functions. Errors say what is wrong but never echo the input, which is
// personal data.

// Errors wrapped by the normalisers, for callers that map them to API
// problem codes.
var (
	ErrInvalidEmail      = errors.New("keys: invalid e-mail address")
	ErrInvalidPhone      = errors.New("keys: invalid phone number")
	ErrInvalidExternalID = errors.New("keys: invalid external ID")
)

// Limits on normalised identifiers.
const (
	maxEmailLen      = 254 // RFC 5321 path limit minus the angle brackets
	minPhoneDigits   = 8   // shortest numbers in use with country code
	maxPhoneDigits   = 15  // E.164
	maxExternalIDLen = 256
)

// NormalizeEmail trims surrounding white space and lower-cases the whole
// address. RFC 5321 lets the local part be case-sensitive, but in practice
// no provider treats "Ann@x.org" and "ann@x.org" as two people, and
// missing a data subject's records is worse than a theoretical collision.
//
// The result must have exactly one '@' with non-empty parts on both sides,
// no white space or control characters, be valid UTF-8 and at most 254
// bytes. Nothing else is checked: this is an index key, not a deliverability
// test. Internationalised domains are not converted (no IDNA), so
// "ü.example" and "xn--tda.example" index differently; provider-specific
// rules (dots or "+tags" in Gmail) are not applied either.
func NormalizeEmail(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidEmail)
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidEmail)
	}
	if len(s) > maxEmailLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidEmail, maxEmailLen)
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return "", fmt.Errorf("%w: contains white space or control characters", ErrInvalidEmail)
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") {
		return "", fmt.Errorf("%w: must contain exactly one '@'", ErrInvalidEmail)
	}
	if local == "" || domain == "" {
		return "", fmt.Errorf("%w: empty local part or domain", ErrInvalidEmail)
	}
	return s, nil
}

// NormalizePhone returns a phone number in E.164 form: "+" followed by 8 to
// 15 digits, the first not 0.
//
// Input may use spaces, dashes, dots and parentheses as separators and give
// the international prefix as "+" or "00": "+49 30 1234-5678",
// "(+44) 20 7946 0958" and "0049 30 1234 5678" are accepted. A "(0)" trunk
// prefix, as in "+44 (0)20 7946 0958", is dropped rather than kept as a
// digit, because keeping it would index a different number.
//
// Numbers without a country code are rejected: there is no default region,
// as guessing one would silently index "030 1234 5678" under the wrong
// country. Only ASCII digits are accepted. The number is not checked
// against numbering plans.
func NormalizePhone(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidPhone)
	}
	s = strings.ReplaceAll(strings.TrimSpace(s), "(0)", "")

	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r == '+':
			b.WriteRune(r)
		case r == '-', r == '.', r == '(', r == ')', unicode.IsSpace(r):
			// separator, dropped
		default:
			return "", fmt.Errorf("%w: only digits, '+', spaces, dashes, dots and parentheses are allowed", ErrInvalidPhone)
		}
	}
	compact := b.String()

	var digits string
	switch {
	case strings.HasPrefix(compact, "+"):
		digits = compact[1:]
	case strings.HasPrefix(compact, "00"):
		digits = compact[2:]
	case compact == "":
		return "", fmt.Errorf("%w: empty", ErrInvalidPhone)
	default:
		return "", fmt.Errorf("%w: missing country code, write it as +<country code> or 00<country code>", ErrInvalidPhone)
	}
	if strings.Contains(digits, "+") {
		return "", fmt.Errorf("%w: '+' is only allowed at the start", ErrInvalidPhone)
	}
	if len(digits) < minPhoneDigits || len(digits) > maxPhoneDigits {
		return "", fmt.Errorf("%w: need %d to %d digits including the country code", ErrInvalidPhone, minPhoneDigits, maxPhoneDigits)
	}
	if digits[0] == '0' {
		return "", fmt.Errorf("%w: country code cannot start with 0", ErrInvalidPhone)
	}
	return "+" + digits, nil
}

// NormalizeExternalID trims surrounding white space from an identifier the
// host application uses for the subject (a customer number, a UUID, ...).
// Case is preserved because many such IDs are case-sensitive. The result
// must be 1 to 256 bytes of valid UTF-8 without control characters. No
// Unicode normalisation (NFC) is applied: IDs are compared byte for byte,
// as the host application stores them.
func NormalizeExternalID(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidExternalID)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidExternalID)
	}
	if len(s) > maxExternalIDLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidExternalID, maxExternalIDLen)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", fmt.Errorf("%w: contains control characters", ErrInvalidExternalID)
	}
	return s, nil
}
