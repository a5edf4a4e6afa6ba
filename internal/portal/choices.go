package portal

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
)

// choicesPage is "Privacy choices": every purpose with its explanation and
// state, and the person's own consent records.
type choicesPage struct {
	Frame    frame
	Purposes []purposeChoice
	History  []historyRow
	Done     string // the confirmation of the last change, if any
	Error    string
}

// purposeChoice is one purpose as the page shows it. Control says which
// single action the person has: "consent" (grant or withdraw),
// "object" (an objection under Art. 21), "necessary" (none: needed for
// the service) or "none" (another legal basis without an objection
// right).
type purposeChoice struct {
	Slug, Name, Description string
	Basis                   string
	Article                 string
	Control                 string
	Allowed                 bool
	Granted                 bool // consent given and in force
	Objected                bool
	DirectMarketing         bool
	Since                   string
	NoticeVersion           int
	NoticeSHA256            string
	ReceiptHref             string
}

type historyRow struct {
	At, Kind, What, Channel string
	ReceiptHref             string
}

// choices shows the purposes. Optional purposes are shown as not given
// unless the person's records say they gave consent: nothing is
// pre-ticked.
func (s *Server) choices(w http.ResponseWriter, r *http.Request, q *request) error {
	done := ""
	switch d := r.URL.Query().Get("done"); d {
	case "grant", "withdraw", "object", "accept-notice":
		done = q.page.L.T("portal.choices.done." + d)
	}
	return s.renderChoices(w, r, q, http.StatusOK, done, "")
}

func (s *Server) renderChoices(w http.ResponseWriter, r *http.Request, q *request, status int, done, fail string) error {
	ctx := r.Context()
	f, err := s.frame(ctx, q, "choices")
	if errcode.Of(err) == errcode.NotFound {
		return s.gone(w, r, q)
	}
	if err != nil {
		return err
	}
	state, err := s.consent.State(ctx, q.subject())
	if err != nil {
		return err
	}
	l := q.page.L
	p := choicesPage{Frame: f, Done: done, Error: fail}
	versions := map[string]consent.NoticeVersion{}
	names := map[string]string{}
	for _, ps := range state {
		pu := ps.Purpose
		c := purposeChoice{Slug: pu.Slug, Name: text(pu.Names, l.Tag()), Description: text(pu.Descriptions, l.Tag()),
			Basis: l.T("portal.basis." + string(pu.Basis)), Article: pu.Basis.Article(), Allowed: ps.Decision.Allowed,
			DirectMarketing: pu.DirectMarketing, Objected: ps.Kind == consent.Object}
		names[pu.Slug] = c.Name
		switch {
		case pu.Necessary:
			c.Control = "necessary"
		case pu.Basis == consent.Consent:
			c.Control = "consent"
			c.Granted = ps.Kind == consent.Grant
			notice := pu.Notice
			if notice == "" {
				notice = consent.DefaultNotice
			}
			v, ok := versions[notice]
			if !ok {
				if v, err = s.consent.CurrentNotice(ctx, notice); err != nil {
					return err
				}
				versions[notice] = v
			}
			c.NoticeVersion, c.NoticeSHA256 = v.Version, v.SHA256
		case pu.Basis == consent.LegitimateInterest || pu.Basis == consent.PublicTask || pu.DirectMarketing:
			c.Control = "object"
		default:
			c.Control = "none"
		}
		if ps.Decision.Since != nil {
			c.Since = l.Date(*ps.Decision.Since)
		}
		if ps.Kind != "" && ps.Kind != consent.AcceptNotice {
			c.ReceiptHref = ""
			if ps.Decision.RecordID != "" {
				c.ReceiptHref = Prefix + "receipts/" + ps.Decision.RecordID
			}
		}
		p.Purposes = append(p.Purposes, c)
	}
	history, err := s.consent.History(ctx, q.subject())
	if err != nil {
		return err
	}
	for i := len(history) - 1; i >= 0; i-- { // newest first
		rec := history[i]
		row := historyRow{At: l.Date(rec.RecordedAt) + " " + rec.RecordedAt.UTC().Format("15:04") + " UTC",
			Kind: l.T("portal.kind." + string(rec.Kind)), Channel: l.T("portal.channel." + string(rec.Channel))}
		if rec.Purpose != "" {
			row.What = names[rec.Purpose]
			if row.What == "" {
				row.What = rec.Purpose
			}
			row.ReceiptHref = Prefix + "receipts/" + rec.ID
		} else {
			title, ok := l.Lookup("notice." + rec.Notice)
			if !ok {
				title = rec.Notice
			}
			row.What = title + " · " + l.T("portal.version", rec.NoticeVersion)
		}
		p.History = append(p.History, row)
	}
	return s.render(w, status, "choices", q, l.T("portal.choices.title"), p)
}

// text picks the language's text, else English, else any.
func text(m map[string]string, lang string) string {
	if t := m[lang]; t != "" {
		return t
	}
	if t := m["en"]; t != "" {
		return t
	}
	for _, t := range m {
		return t
	}
	return ""
}
