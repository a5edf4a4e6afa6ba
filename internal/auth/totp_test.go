package auth

import (
	"encoding/base32"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TestRFC6238Vectors checks the code generation gdprd relies on against
// Appendix B of RFC 6238 (SHA-1, 8 digits, secret "12345678901234567890").
func TestRFC6238Vectors(t *testing.T) {
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	for _, v := range []struct {
		unix int64
		code string
	}{
		{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"},
		{1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
	} {
		got, err := totp.GenerateCodeCustom(secret, time.Unix(v.unix, 0).UTC(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsEight, Algorithm: otp.AlgorithmSHA1})
		if err != nil || got != v.code {
			t.Errorf("T=%d: %q, %v; want %s", v.unix, got, err, v.code)
		}
	}
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totpOptions)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVerifyTOTP(t *testing.T) {
	k, err := NewTOTP("gdprd", "dpo@example.org")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 10, 0, time.UTC)
	step := TOTPStep(now)
	for _, tc := range []struct {
		name     string
		at       time.Time
		lastStep int64
		want     bool
	}{
		{"current step", now, 0, true},
		{"previous step (drift)", now.Add(-30 * time.Second), 0, true},
		{"next step (drift)", now.Add(30 * time.Second), 0, true},
		{"two steps old", now.Add(-60 * time.Second), 0, false},
		{"two steps ahead", now.Add(60 * time.Second), 0, false},
		{"replay of the accepted step", now, step, false},
		{"older than the accepted step", now.Add(-30 * time.Second), step, false},
		{"next step after an accepted one", now.Add(30 * time.Second), step, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ok := VerifyTOTP(k.Secret, code(t, k.Secret, tc.at), now, tc.lastStep)
			if ok != tc.want {
				t.Fatalf("accepted = %v, want %v", ok, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := VerifyTOTP(k.Secret, bad, now, 0); ok {
			t.Errorf("code %q accepted", bad)
		}
	}
	// Accepting returns the matched step, which makes the code single-use.
	c := code(t, k.Secret, now)
	s, ok := VerifyTOTP(k.Secret, c, now, 0)
	if !ok || s != step {
		t.Fatalf("step %d, %v; want %d", s, ok, step)
	}
	if _, ok := VerifyTOTP(k.Secret, c, now.Add(5*time.Second), s); ok {
		t.Fatal("the same code was accepted twice within its window")
	}
}

func TestTOTPURI(t *testing.T) {
	k, err := NewTOTP("PrintFarm Cloud", "ada@example.org")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(k.URI)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("URI %q", k.URI)
	}
	q := u.Query()
	if q.Get("secret") != k.Secret || q.Get("issuer") != "PrintFarm Cloud" || q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Fatalf("URI parameters %v", q)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(k.Secret)
	if err != nil || len(raw) != 20 {
		t.Fatalf("secret is %d bytes (%v), want 20", len(raw), err)
	}
}

// TestAgainstOathtool cross-checks VerifyTOTP with an independent
// implementation, Debian's oathtool (installed by `make test`).
func TestAgainstOathtool(t *testing.T) {
	bin, err := exec.LookPath("oathtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("oathtool is not installed; `make test` installs it")
		}
		t.Skip("oathtool not installed (fails under CI)")
	}
	k, err := NewTOTP("gdprd", "x@example.org")
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int64{59, 1111111109, 1234567890, 1764331200, 2000000000} {
		out, err := exec.Command(bin, "--totp", "--base32", "--digits=6", "--now=@"+strconv.FormatInt(at, 10), k.Secret).Output()
		if err != nil {
			t.Fatalf("oathtool: %v", err)
		}
		c := strings.TrimSpace(string(out))
		if _, ok := VerifyTOTP(k.Secret, c, time.Unix(at, 0), 0); !ok {
			t.Errorf("T=%d: oathtool's code %s refused", at, c)
		}
		if got := code(t, k.Secret, time.Unix(at, 0)); got != c {
			t.Errorf("T=%d: ours %s, oathtool %s", at, got, c)
		}
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes, err := NewRecoveryCodes(10)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 11 || c[5] != '-' || strings.ContainsAny(c, "01IO") {
			t.Errorf("code %q is not xxxxx-xxxxx from the unambiguous alphabet", c)
		}
		if seen[c] {
			t.Errorf("duplicate code %q", c)
		}
		seen[c] = true
		if n := NormalizeRecoveryCode(" " + strings.ToLower(c)[:5] + " " + c[6:]); n != strings.ReplaceAll(c, "-", "") {
			t.Errorf("normalising a retyped %q gave %q", c, n)
		}
	}
}
