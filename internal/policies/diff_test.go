package policies

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// script renders edits compactly: " a" kept, "-a" removed, "+a" added.
func script(edits []edit) string {
	var b strings.Builder
	for _, e := range edits {
		b.WriteString([]string{" ", "-", "+"}[e.op])
		b.WriteString(e.text)
		b.WriteString("|")
	}
	return b.String()
}

func TestDiffLines(t *testing.T) {
	tests := []struct {
		name, a, b, want string
	}{
		{"both empty", "", "", ""},
		{"identical", "a\nb", "a\nb", " a| b|"},
		{"all new", "", "a\nb", "+a|+b|"},
		{"all gone", "a\nb", "", "-a|-b|"},
		{"insert middle", "a\nc", "a\nb\nc", " a|+b| c|"},
		{"delete middle", "a\nb\nc", "a\nc", " a|-b| c|"},
		{"replace reads old then new", "a\nb\nc", "a\nx\nc", " a|-b|+x| c|"},
		{"replace block", "a\nb\nc\nd", "a\nx\ny\nd", " a|-b|-c|+x|+y| d|"},
		{"crlf equals lf", "a\r\nb\r\n", "a\nb\n", " a| b|"},
		{"trailing newline ignored", "a\n", "a", " a|"},
		{"blank lines count", "a\n\nb", "a\nb", " a|-| b|"},
		{"myers example", "a\nb\nc\na\nb\nb\na", "c\nb\na\nb\na\nc", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := splitLines(tt.a), splitLines(tt.b)
			got, complete := diffLines(a, b)
			if !complete {
				t.Fatal("incomplete comparison of small texts")
			}
			checkScript(t, a, b, got)
			if tt.want != "" && script(got) != tt.want {
				t.Errorf("diff = %q, want %q", script(got), tt.want)
			}
		})
	}
}

// checkScript asserts that edits turn a into b and keep as many lines as a
// longest common subsequence has, i.e. that the script is correct and
// shortest.
func checkScript(t *testing.T, a, b []string, edits []edit) {
	t.Helper()
	var gotA, gotB []string
	kept := 0
	for _, e := range edits {
		switch e.op {
		case opEqual:
			gotA, gotB = append(gotA, e.text), append(gotB, e.text)
			kept++
		case opDelete:
			gotA = append(gotA, e.text)
		case opInsert:
			gotB = append(gotB, e.text)
		}
	}
	if !slices.Equal(gotA, a) || !slices.Equal(gotB, b) {
		t.Fatalf("script %q does not turn %q into %q", script(edits), a, b)
	}
	if want := lcsLen(a, b); kept != want {
		t.Fatalf("script keeps %d lines, a longest common subsequence has %d: %q", kept, want, script(edits))
	}
}

// lcsLen is the textbook dynamic program, independent of Myers.
func lcsLen(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

// TestDiffLinesRandom compares against the dynamic program on many small
// texts over a tiny alphabet, where repeated lines make ties frequent.
func TestDiffLinesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func() []string {
		out := make([]string, rng.IntN(12))
		for i := range out {
			out[i] = string(rune('a' + rng.IntN(3)))
		}
		return out
	}
	for i := range 3000 {
		a, b := gen(), gen()
		edits, complete := diffLines(a, b)
		if !complete {
			t.Fatalf("case %d: incomplete", i)
		}
		checkScript(t, a, b, edits)
	}
}

func TestDiffLinesLimit(t *testing.T) {
	var a, b []string
	for i := range maxEdits {
		a = append(a, "old "+string(rune('a'+i%26))+strings.Repeat("x", i))
		b = append(b, "new "+string(rune('a'+i%26))+strings.Repeat("y", i))
	}
	a = append([]string{"same start"}, append(a, "same end")...)
	b = append([]string{"same start"}, append(b, "same end")...)
	edits, complete := diffLines(a, b)
	if complete {
		t.Fatalf("%d changed lines compared in full; the limit is %d", 2*maxEdits, maxEdits)
	}
	var gotA, gotB []string
	for _, e := range edits {
		if e.op != opInsert {
			gotA = append(gotA, e.text)
		}
		if e.op != opDelete {
			gotB = append(gotB, e.text)
		}
	}
	if !slices.Equal(gotA, a) || !slices.Equal(gotB, b) {
		t.Fatal("fallback script does not turn a into b")
	}
	if edits[0].op != opEqual || edits[len(edits)-1].op != opEqual {
		t.Error("fallback lost the common start and end")
	}
}
