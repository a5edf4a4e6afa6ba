package keys

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"already normal", "ann@example.org", "ann@example.org"},
		{"upper case", "Ann.Lee@Example.ORG", "ann.lee@example.org"},
		{"surrounding white space", " \t ann@example.org\n", "ann@example.org"},
		{"unicode local part", "ZOË@example.org", "zoë@example.org"},
		{"unicode domain kept as is", "ann@Bücher.example", "ann@bücher.example"},
		{"plus tag kept", "ann+news@example.org", "ann+news@example.org"},
		{"254 bytes", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 189), strings.Repeat("a", 64) + "@" + strings.Repeat("b", 189)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeEmail(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNormalizeEmailRejects(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"blank", "   "},
		{"no at", "ann.example.org"},
		{"two ats", "ann@lee@example.org"},
		{"empty local", "@example.org"},
		{"empty domain", "ann@"},
		{"inner space", "ann lee@example.org"},
		{"no-break space", "ann\u00a0lee@example.org"},
		{"tab inside", "ann@exa\tmple.org"},
		{"control character", "ann\x01@example.org"},
		{"invalid UTF-8", "ann\xff@example.org"},
		{"255 bytes", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeEmail(tt.in)
			if !errors.Is(err, ErrInvalidEmail) {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want ErrInvalidEmail", tt.in, got, err)
			}
		})
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"E.164", "+493012345678", "+493012345678"},
		{"spaces and dash", "+49 30 1234-5678", "+493012345678"},
		{"parenthesised country code", "(+44) 20 7946 0958", "+442079460958"},
		{"00 prefix", "0049 30 1234 5678", "+493012345678"},
		{"dots", "+1.202.555.0143", "+12025550143"},
		{"trunk zero in parentheses", "+44 (0)20 7946 0958", "+442079460958"},
		{"surrounding white space", "\t+49 30 12345678 \n", "+493012345678"},
		{"no-break spaces", "+49\u00a030\u00a012345678", "+493012345678"},
		{"8 digits", "+12345678", "+12345678"},
		{"15 digits", "+123456789012345", "+123456789012345"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizePhone(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("NormalizePhone(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNormalizePhoneRejects(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"separators only", " - ( ) "},
		{"national number", "030 1234 5678"},
		{"national number without trunk", "30 1234 5678"},
		{"7 digits", "+1234567"},
		{"16 digits", "+1234567890123456"},
		{"00 prefix, too long", "00 1234567890123456"},
		{"country code starting with 0", "+049 30 12345678"},
		{"000 prefix", "000 49 30 12345678"},
		{"plus in the middle", "+49 30+12345678"},
		{"two pluses", "++493012345678"},
		{"00 then plus", "00+493012345678"},
		{"letters", "+49 30 CALL-NOW"},
		{"extension", "+49 30 12345678 x12"},
		{"slash", "+49 30/12345678"},
		{"fullwidth digits", "+４９３０１２３４５６７８"},
		{"arabic-indic digits", "+٤٩٣٠١٢٣٤٥٦٧٨"},
		{"invalid UTF-8", "+4930\xff12345678"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizePhone(tt.in)
			if !errors.Is(err, ErrInvalidPhone) {
				t.Errorf("NormalizePhone(%q) = %q, %v; want ErrInvalidPhone", tt.in, got, err)
			}
		})
	}
}

func TestNormalizePhoneNationalNumberErrorIsClear(t *testing.T) {
	_, err := NormalizePhone("030 1234 5678")
	if err == nil || !strings.Contains(err.Error(), "country code") {
		t.Errorf("error = %v, want it to mention the missing country code", err)
	}
	if strings.Contains(err.Error(), "1234") {
		t.Errorf("error echoes the phone number: %v", err)
	}
}

func TestNormalizeExternalID(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"simple", "cust-42", "cust-42"},
		{"case preserved", "AbC-Def", "AbC-Def"},
		{"trimmed", "  cust-42\n", "cust-42"},
		{"inner space kept", "order 42", "order 42"},
		{"unicode", "kunde-größe-東京", "kunde-größe-東京"},
		{"256 bytes", strings.Repeat("x", 256), strings.Repeat("x", 256)},
		{"256 bytes after trim", " " + strings.Repeat("x", 256) + " ", strings.Repeat("x", 256)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeExternalID(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("NormalizeExternalID(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNormalizeExternalIDRejects(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"blank", " \t\n"},
		{"257 bytes", strings.Repeat("x", 257)},
		{"multi-byte over limit", strings.Repeat("é", 129)},
		{"NUL", "cust\x0042"},
		{"inner newline", "cust\n42"},
		{"DEL", "cust\x7f42"},
		{"C1 control", "cust\u008542"},
		{"invalid UTF-8", "cust\xc342"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeExternalID(tt.in)
			if !errors.Is(err, ErrInvalidExternalID) {
				t.Errorf("NormalizeExternalID(%q) = %q, %v; want ErrInvalidExternalID", tt.in, got, err)
			}
		})
	}
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// FuzzNormalizePhone checks that NormalizePhone never panics, only returns
// E.164 strings, and is idempotent.
func FuzzNormalizePhone(f *testing.F) {
	for _, seed := range []string{
		"", "+", "00", "+49 30 1234-5678", "(+44) 20 7946 0958", "0049 30 1234 5678",
		"+44 (0)20 7946 0958", "030 1234 5678", "+٤٩٣٠١٢٣٤٥٦٧٨", "+4930\xff12345678",
		"((((+1))))2025550143", "+1234567890123456", "(0)(0)+(0)",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizePhone(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidPhone) || got != "" {
				t.Fatalf("NormalizePhone(%q) = %q, %v", in, got, err)
			}
			return
		}
		if !e164.MatchString(got) {
			t.Fatalf("NormalizePhone(%q) = %q, not E.164", in, got)
		}
		again, err := NormalizePhone(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, got, again, err)
		}
	})
}

// FuzzNormalizeEmail checks that NormalizeEmail never panics, respects its
// documented limits and is idempotent.
func FuzzNormalizeEmail(f *testing.F) {
	for _, seed := range []string{"", "@", "a@b", " Ann@Example.ORG ", "ZOË@x", "a@b@c", "\xff@x", "İ@x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizeEmail(in)
		if err != nil {
			return
		}
		if len(got) > 254 || !utf8.ValidString(got) || strings.Count(got, "@") != 1 {
			t.Fatalf("NormalizeEmail(%q) = %q breaks its contract", in, got)
		}
		again, err := NormalizeEmail(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, got, again, err)
		}
	})
}
