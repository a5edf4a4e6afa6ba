package policies

import (
	"slices"
	"strings"
)

// op is what a line of a comparison does.
type op int8

const (
	opEqual op = iota
	opDelete
	opInsert
)

// edit is one line of a comparison: kept, removed from the old text or
// added in the new one.
type edit struct {
	op   op
	text string
}

// maxEdits bounds the work of one comparison. Myers' algorithm costs
// O((N+M)·D) time and, as written here, O(D²) memory for D changed lines;
// past this bound the comparison gives up and shows the old text removed
// and the new one added, which is correct, only less helpful. Notices
// change by a few paragraphs at a time, far below it.
const maxEdits = 1000

// splitLines splits a text into lines, accepting \n and \r\n line ends; a
// final line end does not start another (empty) line.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// diffLines returns a shortest edit script from a to b (no shorter one
// exists: the kept lines are a longest common subsequence), with deletions
// before insertions where a block of lines was replaced. complete is false
// when the texts differ by more than maxEdits lines and the middle part
// was shown as replaced wholesale.
func diffLines(a, b []string) (edits []edit, complete bool) {
	// Lines in common at both ends cost nothing to find and often make up
	// most of a notice.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	for _, l := range a[:pre] {
		edits = append(edits, edit{opEqual, l})
	}
	midA, midB := a[pre:len(a)-suf], b[pre:len(b)-suf]
	mid, complete := myers(midA, midB, maxEdits)
	if !complete {
		mid = mid[:0]
		for _, l := range midA {
			mid = append(mid, edit{opDelete, l})
		}
		for _, l := range midB {
			mid = append(mid, edit{opInsert, l})
		}
	}
	edits = append(edits, deletionsFirst(mid)...)
	for _, l := range a[len(a)-suf:] {
		edits = append(edits, edit{opEqual, l})
	}
	return edits, complete
}

// myers is Eugene W. Myers' O(ND) difference algorithm ("An O(ND)
// Difference Algorithm and Its Variations", 1986): it explores edit
// scripts of growing length d along diagonals k = x - y, remembering for
// each diagonal the furthest x reached, and stops at the first d that
// reaches the end of both texts. The frontier of each round is kept so the
// path can be traced back. It gives up (false) beyond limit edits.
func myers(a, b []string, limit int) ([]edit, bool) {
	n, m := len(a), len(b)
	if n == 0 && m == 0 {
		return nil, true
	}
	// Lines are compared as integers: equal strings get equal ids.
	ids := map[string]int{}
	intern := func(lines []string) []int {
		out := make([]int, len(lines))
		for i, l := range lines {
			id, ok := ids[l]
			if !ok {
				id = len(ids)
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	x1, y1 := intern(a), intern(b)

	// frontier[d][k+d] is the furthest x on diagonal k after d edits.
	var frontier [][]int
	prev := []int{0} // round -1, seen as diagonal 1 with x = 0 (Myers' V[1] = 0)
	for d := 0; d <= n+m; d++ {
		if d > limit {
			return nil, false
		}
		cur := make([]int, 2*d+1)
		for k := -d; k <= d; k += 2 {
			var x int
			switch {
			case d == 0:
				x = prev[0]
			case k == -d || (k != d && at(prev, d-1, k-1) < at(prev, d-1, k+1)):
				x = at(prev, d-1, k+1) // down: insert b[y]
			default:
				x = at(prev, d-1, k-1) + 1 // right: delete a[x]
			}
			y := x - k
			for x < n && y < m && x1[x] == y1[y] {
				x, y = x+1, y+1
			}
			cur[k+d] = x
			if x >= n && y >= m {
				frontier = append(frontier, cur)
				return backtrack(frontier, a, b), true
			}
		}
		frontier = append(frontier, cur)
		prev = cur
	}
	panic("unreachable: n+m edits always suffice")
}

// at reads diagonal k of a round-d frontier.
func at(f []int, d, k int) int { return f[k+d] }

// backtrack walks from the end of both texts back to the start, one round
// at a time, and returns the edits in order.
func backtrack(frontier [][]int, a, b []string) []edit {
	x, y := len(a), len(b)
	var out []edit
	for d := len(frontier) - 1; d > 0; d-- {
		prev := frontier[d-1]
		k := x - y
		var pk int
		if k == -d || (k != d && at(prev, d-1, k-1) < at(prev, d-1, k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := at(prev, d-1, pk)
		py := px - pk
		// The edit of this round led from (px, py) to (sx, sy); the lines
		// from there to (x, y) are kept (the "snake").
		sx, sy := px+1, py
		if pk == k+1 {
			sx, sy = px, py+1
		}
		for x > sx {
			x, y = x-1, y-1
			out = append(out, edit{opEqual, a[x]})
		}
		if sy > py {
			out = append(out, edit{opInsert, b[py]})
		} else {
			out = append(out, edit{opDelete, a[px]})
		}
		x, y = px, py
	}
	for x > 0 && y > 0 {
		x, y = x-1, y-1
		out = append(out, edit{opEqual, a[x]})
	}
	slices.Reverse(out)
	return out
}

// deletionsFirst reorders each run of changed lines so that the removed
// lines come before the added ones: a replaced paragraph then reads as
// "old, new" instead of interleaved. Any order within a run is an equally
// short edit script.
func deletionsFirst(edits []edit) []edit {
	for i := 0; i < len(edits); {
		if edits[i].op == opEqual {
			i++
			continue
		}
		j := i
		for j < len(edits) && edits[j].op != opEqual {
			j++
		}
		slices.SortStableFunc(edits[i:j], func(x, y edit) int { return int(x.op) - int(y.op) })
		i = j
	}
	return edits
}
