package password

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gdprd/gdprd/internal/errcode"
)

func ruleOf(t *testing.T, err error) Rule {
	t.Helper()
	if err == nil {
		return ""
	}
	if errcode.Of(err) != errcode.Invalid {
		t.Fatalf("error %v is not errcode.Invalid", err)
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v carries no rule", err)
	}
	return pe.Rule
}

func TestCheck(t *testing.T) {
	acct := Account{Email: "Grace.Hopper@example.org", Name: "Grace Brewster Hopper"}
	for _, tc := range []struct {
		name, pw string
		want     Rule
	}{
		{"eleven characters", "abcdefghijk", RuleTooShort},
		{"twelve unusual characters", "vq7-zebra-lute", ""},
		{"eleven characters after trimming is still the length typed", " tangerine7 ", ""},
		{"129 characters", strings.Repeat("x", 129), RuleTooLong},
		{"128 characters", strings.Repeat("xy", 64), ""},
		{"breached", "password1234", RuleBreached},
		{"breached in another case", "PASSWORD1234", RuleBreached},
		{"contains the e-mail local part", "grace.hopper-rocks!", RulePersonal},
		{"contains a name word", "brewster-on-the-moon", RulePersonal},
		{"short name parts do not count", "ab-cd-ef-gh-ij", ""},
		{"invalid UTF-8", "abcdefghijkl\xff", RuleInvalidText},
		{"unicode passphrase", "Grüße aus München, 東京 и Москва!", ""},
		{"emoji count as characters", strings.Repeat("🦊", 12), ""},
		{"eleven emoji", strings.Repeat("🦊", 11), RuleTooShort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ruleOf(t, Check(tc.pw, acct)); got != tc.want {
				t.Fatalf("Check(%q) broke %q, want %q", tc.pw, got, tc.want)
			}
		})
	}
}

func TestErrorsSayWhichRule(t *testing.T) {
	for pw, want := range map[string]string{
		"short":        "at least 12",
		"password1234": "leaked",
	} {
		err := Check(pw, Account{})
		e, ok := errcode.As(err)
		if !ok || e.Field != "password" || !strings.Contains(e.Message, want) {
			t.Errorf("Check(%q) = %v, want a message on field password mentioning %q", pw, err, want)
		}
	}
}

// TestEveryListedPasswordIsRejected (AU-4): every entry of the shipped list
// is refused, by length or as breached; entries of 12 characters or more
// are refused as breached.
func TestEveryListedPasswordIsRejected(t *testing.T) {
	zr, err := gzip.NewReader(bytes.NewReader(breachedGz))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	var total, long int
	for sc.Scan() {
		pw := sc.Text()
		total++
		err := check(pw, Account{})
		if err == nil {
			t.Fatalf("listed password %q accepted", pw)
		}
		if utf8.RuneCountInString(pw) >= MinLength {
			long++
			if err.Rule != RuleBreached {
				t.Fatalf("listed password %q refused for %q, want breached", pw, err.Rule)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if total < 100_000 || total != Len() {
		t.Fatalf("list has %d entries (Len %d), want at least 100,000", total, Len())
	}
	if long < 10_000 {
		t.Fatalf("only %d listed passwords of 12+ characters: the breached rule is barely exercised", long)
	}
	t.Logf("%d listed passwords refused, %d of them as breached", total, long)
}

// TestNoTruncation: a long passphrase is accepted whole, and a listed
// password with one more character is a different password.
func TestNoTruncation(t *testing.T) {
	long := strings.Repeat("ünïcode-passphrase ", 6)[:100] + "tail"
	if err := Check(long, Account{}); err != nil {
		t.Fatalf("100+ character passphrase refused: %v", err)
	}
	if err := Check("password1234x", Account{}); err != nil {
		t.Fatalf("an unlisted extension of a listed password was refused: %v", err)
	}
}

func BenchmarkCheck(b *testing.B) {
	load()
	for i := 0; i < b.N; i++ {
		Check("correct horse battery staple", Account{Email: "a@b.c"})
	}
}
