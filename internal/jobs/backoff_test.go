package jobs

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestBackoff(t *testing.T) {
	lowest := func(int64) int64 { return 0 }
	var asked int64
	highest := func(n int64) int64 { asked = n; return n - 1 }
	tests := []struct {
		name    string
		attempt int
		rand    func(int64) int64
		want    time.Duration
	}{
		{"first failure", 1, lowest, 5 * time.Second},
		{"second failure", 2, lowest, 10 * time.Second},
		{"third failure", 3, lowest, 20 * time.Second},
		{"tenth failure", 10, lowest, 2560 * time.Second},
		{"capped", 11, lowest, time.Hour},
		{"far past the cap does not overflow", 500, lowest, time.Hour},
		{"full jitter keeps half", 1, highest, 2500 * time.Millisecond},
		{"full jitter at the cap", 40, highest, 30 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRunner(nil, Options{Rand: tt.rand})
			if err != nil {
				t.Fatal(err)
			}
			if got := r.backoff(tt.attempt); got != tt.want {
				t.Fatalf("backoff(%d) = %s, want %s", tt.attempt, got, tt.want)
			}
		})
	}
	if want := int64(30*time.Minute) + 1; asked != want {
		t.Errorf("jitter drawn from [0, %d), want [0, %d)", asked, want)
	}
}

func TestErrorTextIsBounded(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"short", "boom", 4},
		{"long ASCII", string(make([]byte, 5000)), maxErrorLen},
		{"long multibyte cut on a rune boundary", strings.Repeat("€", 1000), maxErrorLen - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorText(errString(tt.in))
			if len(got) != tt.want || !utf8.ValidString(got) {
				t.Fatalf("len = %d, want %d", len(got), tt.want)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }
