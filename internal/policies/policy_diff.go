package policies

import (
	"net/http"
	"strings"

	"github.com/gdprd/gdprd/internal/errcode"
)

// diffContext is how many unchanged lines are shown around each change;
// longer unchanged stretches fold into one "n unchanged lines" row.
const diffContext = 3

// diffRow is one row of the comparison: Kind is "same", "add", "del" or
// "skip" (Count unchanged lines not shown).
type diffRow struct {
	Kind  string
	Text  string
	Count int
}

// diffPage is the Main of the diff template.
type diffPage struct {
	Title, PolicyHref string
	From, To          versionView
	Summaries         []versionView // the versions after From up to To
	Rows              []diffRow
	Added, Removed    int
	Identical         bool
	TooLarge          bool
}

// diff compares two published versions of a notice line by line:
// /policies/{slug}/diff/{a}..{b} with a older than b.
func (s *Server) diff(w http.ResponseWriter, r *http.Request) error {
	from, to, err := parseRange(r.PathValue("range"))
	if err != nil {
		return err
	}
	n, err := s.loadNotice(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	a, err := n.find(from)
	if err != nil {
		return err
	}
	b, err := n.find(to)
	if err != nil {
		return err
	}
	p := s.ui.NewPage(r)
	t := title(s.ui.Catalog(), p.L, n.slug, n.title)
	edits, complete := diffLines(splitLines(a.Body), splitLines(b.Body))
	page := diffPage{
		Title: t, PolicyHref: p.Href(Prefix + n.slug),
		From: s.versionView(p, n, a), To: s.versionView(p, n, b),
		Rows: foldRows(edits, diffContext), TooLarge: !complete,
	}
	for _, e := range edits {
		switch e.op {
		case opInsert:
			page.Added++
		case opDelete:
			page.Removed++
		}
	}
	page.Identical = page.Added == 0 && page.Removed == 0
	for _, v := range n.versions {
		if v.Version > from && v.Version <= to && v.Summary != "" {
			page.Summaries = append(page.Summaries, s.versionView(p, n, v))
		}
	}
	p.Title = t + " – " + p.L.T("diff.title", from, to)
	p.Main = page
	return s.render(w, r, "policies/diff", p)
}

// parseRange reads "a..b". The older version comes first; anything else is
// a bad request rather than a silent swap, so each comparison has one
// address.
func parseRange(s string) (from, to int, err error) {
	fs, ts, ok := strings.Cut(s, "..")
	if !ok {
		return 0, 0, errcode.E(errcode.Invalid, "a comparison is written a..b")
	}
	if from, err = parseVersion(fs); err != nil {
		return 0, 0, err
	}
	if to, err = parseVersion(ts); err != nil {
		return 0, 0, err
	}
	if from >= to {
		return 0, 0, errcode.E(errcode.Invalid, "a comparison names the older version first")
	}
	return from, to, nil
}

// foldRows turns edits into rows, keeping context lines around each change
// and folding the other unchanged lines. A fold of a single line would
// take as much room as the line, so such a line is shown instead.
func foldRows(edits []edit, context int) []diffRow {
	show := make([]bool, len(edits))
	for i, e := range edits {
		if e.op == opEqual {
			continue
		}
		for j := max(0, i-context); j <= min(len(edits)-1, i+context); j++ {
			show[j] = true
		}
	}
	var rows []diffRow
	for i := 0; i < len(edits); {
		if !show[i] {
			j := i
			for j < len(edits) && !show[j] {
				j++
			}
			if j-i > 1 {
				rows = append(rows, diffRow{Kind: "skip", Count: j - i})
				i = j
				continue
			}
		}
		rows = append(rows, diffRow{Kind: rowKind(edits[i].op), Text: edits[i].text})
		i++
	}
	return rows
}

func rowKind(o op) string {
	switch o {
	case opInsert:
		return "add"
	case opDelete:
		return "del"
	}
	return "same"
}
