package console

import (
	"slices"
	"testing"
)

// TestSafeCells: every cell a spreadsheet would run as a formula is
// neutralised; others are left as they are.
func TestSafeCells(t *testing.T) {
	in := []string{"=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "plain", "", "a=b"}
	want := []string{"'=HYPERLINK(\"http://x\")", "'+1", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx", "plain", "", "a=b"}
	if got := safeCells(slices.Clone(in)...); !slices.Equal(got, want) {
		t.Fatalf("safeCells = %q, want %q", got, want)
	}
}
