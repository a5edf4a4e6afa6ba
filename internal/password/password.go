// Package password decides whether a new password is acceptable: long
// enough, not too long, not on a list of common and breached passwords, and
// not built from the account's own e-mail address or name (NIST SP 800-63B
// 5.1.1.2, OWASP ASVS 5.0 V6.2). Any character is allowed; nothing is
// truncated. Hashing is internal/keys' job.
package password

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/gdprd/gdprd/internal/errcode"
)

// Length limits, in characters (Unicode code points).
const (
	MinLength = 12
	MaxLength = 128
)

// breachedGz is the list of common and breached passwords, normalised,
// sorted and de-duplicated (data/PROVENANCE.md says where it comes from).
//
//go:embed data/breached.txt.gz
var breachedGz []byte

// Rule names the rule a password broke; the UI and API show it.
type Rule string

const (
	RuleTooShort    Rule = "too_short"
	RuleTooLong     Rule = "too_long"
	RuleBreached    Rule = "breached"
	RulePersonal    Rule = "contains_personal_data"
	RuleInvalidText Rule = "invalid_text"
)

// Error says which rule a password broke, in words a person can act on.
type Error struct {
	Rule    Rule
	Message string
}

func (e *Error) Error() string { return e.Message }

// Account is what a password must not contain.
type Account struct {
	Email string
	Name  string
}

// Normalize is how both the list and a candidate are compared: Unicode
// lower case with surrounding white space removed. "Password123!" and
// "password123!" are the same weak password.
func Normalize(p string) string {
	return strings.ToLower(strings.TrimSpace(strings.TrimSuffix(p, "\r")))
}

// Check returns nil for an acceptable password, or an *Error wrapped as an
// errcode.Invalid error on the "password" field.
func Check(pw string, acct Account) error {
	if err := check(pw, acct); err != nil {
		return &errcode.Error{Code: errcode.Invalid, Field: "password", Message: err.Message, Err: err}
	}
	return nil
}

func check(pw string, acct Account) *Error {
	if !utf8.ValidString(pw) {
		return &Error{RuleInvalidText, "The password is not valid text."}
	}
	n := utf8.RuneCountInString(pw)
	if n < MinLength {
		return &Error{RuleTooShort, fmt.Sprintf("Use at least %d characters; a few unrelated words make a strong password that is easy to remember.", MinLength)}
	}
	if n > MaxLength {
		return &Error{RuleTooLong, fmt.Sprintf("Use at most %d characters.", MaxLength)}
	}
	norm := Normalize(pw)
	if breached(norm) {
		return &Error{RuleBreached, "This password is on a list of common or leaked passwords that attackers try first. Choose another."}
	}
	for _, part := range personalParts(acct) {
		if strings.Contains(norm, part) {
			return &Error{RulePersonal, "The password must not contain your e-mail address or your name."}
		}
	}
	return nil
}

// personalParts are the pieces of the account a password must not contain:
// the e-mail address, its local part, and each word of the name, where
// they are long enough to matter (4 characters or more).
func personalParts(acct Account) []string {
	var parts []string
	add := func(s string) {
		s = Normalize(s)
		if utf8.RuneCountInString(s) >= 4 {
			parts = append(parts, s)
		}
	}
	if e := Normalize(acct.Email); e != "" {
		add(e)
		if local, _, ok := strings.Cut(e, "@"); ok {
			add(local)
		}
	}
	for _, w := range strings.FieldsFunc(acct.Name, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		add(w)
	}
	return parts
}

// list is the decompressed list: one byte slice and sorted offsets, about
// a tenth of the memory a map of strings would take.
type list struct {
	data []byte
	off  []uint32 // start of entry i; entries end at the next '\n'
}

// load decompresses the embedded list the first time it is needed (a
// command that never checks a password never pays for it); the result is
// never modified.
var load = sync.OnceValue(func() list {
	zr, err := gzip.NewReader(bytes.NewReader(breachedGz))
	if err != nil {
		panic("password: embedded list is corrupt: " + err.Error())
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(bufio.NewReader(zr)); err != nil {
		panic("password: embedded list is corrupt: " + err.Error())
	}
	data := buf.Bytes()
	off := make([]uint32, 0, bytes.Count(data, []byte{'\n'}))
	for start := 0; start < len(data); {
		off = append(off, uint32(start))
		end := bytes.IndexByte(data[start:], '\n')
		if end < 0 {
			break
		}
		start += end + 1
	}
	return list{data: data, off: off}
})

func (l list) entry(i int) []byte {
	start := int(l.off[i])
	end := bytes.IndexByte(l.data[start:], '\n')
	if end < 0 {
		return l.data[start:]
	}
	return l.data[start : start+end]
}

// Len is the number of passwords on the bundled list.
func Len() int { return len(load().off) }

// breached reports whether the normalised password is on the list.
func breached(norm string) bool {
	l := load()
	key := []byte(norm)
	i := sort.Search(len(l.off), func(i int) bool { return bytes.Compare(l.entry(i), key) >= 0 })
	return i < len(l.off) && bytes.Equal(l.entry(i), key)
}
