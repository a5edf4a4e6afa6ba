package ids

import "testing"

func TestNewIsValidAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 10_000; i++ {
		id := New("sub_")
		if !Valid("sub_", id) {
			t.Fatalf("New made %q, which Valid refuses", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"sub_abcdefghijklmnopqrstuvwxyz", true},
		{"sub_234567abcdefghijklmnopqrst", true},
		{"req_abcdefghijklmnopqrstuvwxyz", false},  // other prefix
		{"sub_abcdefghijklmnopqrstuvwxy", false},   // 25
		{"sub_abcdefghijklmnopqrstuvwxyza", false}, // 27
		{"sub_ABCDEFGHIJKLMNOPQRSTUVWXYZ", false},  // upper case
		{"sub_abcdefghijklmnopqrstuvwx01", false},  // 0 and 1 are not base32
		{"sub_abcdefghijklmnopqrstuvwx8/", false},
		{"", false},
	} {
		if got := Valid("sub_", tc.id); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}
