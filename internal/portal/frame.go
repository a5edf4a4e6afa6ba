package portal

import (
	"context"
	"strconv"

	"github.com/gdprd/gdprd/internal/consent"
)

// frame is what every signed-in page shows around its content: the
// navigation, and the notices the person must read and accept again
// after a material change (shown on whichever portal page comes next,
// without blocking the rest of the portal: the person's rights do not
// depend on accepting new terms).
type frame struct {
	Current string
	Notices []pendingNotice
}

// pendingNotice is one notice awaiting re-acceptance.
type pendingNotice struct {
	Slug, Title string
	Version     int
	SHA256      string
	Summary     string
	Effective   string
	Href        string // the version to read
	DiffHref    string // what changed since the version last accepted; "" if none was
}

// frame loads the frame of a signed-in page.
func (s *Server) frame(ctx context.Context, q *request, current string) (frame, error) {
	f := frame{Current: current}
	pending, err := s.consent.NeedsReacceptance(ctx, q.subject())
	if err != nil || len(pending) == 0 {
		return f, err
	}
	notices, err := s.consent.Notices(ctx)
	if err != nil {
		return f, err
	}
	titles := map[string]string{}
	for _, n := range notices {
		titles[n.Slug] = n.Title
	}
	history, err := s.consent.History(ctx, q.subject())
	if err != nil {
		return f, err
	}
	accepted := map[string]int{}
	for _, rec := range history {
		if rec.Kind == consent.AcceptNotice && rec.NoticeVersion > accepted[rec.Notice] {
			accepted[rec.Notice] = rec.NoticeVersion
		}
	}
	l := q.page.L
	for _, v := range pending {
		title, ok := l.Lookup("notice." + v.Notice)
		if !ok {
			title = titles[v.Notice]
		}
		n := pendingNotice{Slug: v.Notice, Title: title, Version: v.Version, SHA256: v.SHA256, Summary: v.Summary,
			Effective: l.Date(v.EffectiveAt), Href: q.page.Href("/policies/" + v.Notice + "/v/" + strconv.Itoa(v.Version))}
		if a := accepted[v.Notice]; a > 0 && a < v.Version {
			n.DiffHref = q.page.Href("/policies/" + v.Notice + "/diff/" + strconv.Itoa(a) + ".." + strconv.Itoa(v.Version))
		}
		f.Notices = append(f.Notices, n)
	}
	return f, nil
}
