package console

import (
	"net/http"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
)

// maxSearchRows bounds a search shown on the page; the CSV export has no
// bound (it streams).
const maxSearchRows = 200

type recordRow struct {
	At, Subject, Kind, Purpose, Notice, Channel, Action, By string
}

type registerPage struct {
	Nav               nav
	Purposes          []option
	Subject, From, To string
	Searched          bool
	Rows              []recordRow
	More              bool // the search found more than maxSearchRows
	Export            bool // the member may export
	Error             string
}

// registerQuery reads the search form (posted, so that a subject id never
// appears in a URL).
func registerQuery(r *http.Request) (consent.Query, error) {
	f := r.PostForm
	q := consent.Query{SubjectID: strings.TrimSpace(f.Get("subject")), Purpose: f.Get("purpose")}
	var err error
	if v := f.Get("from"); v != "" {
		if q.From, err = time.ParseInLocation("2006-01-02", v, time.UTC); err != nil {
			return q, errcode.Field("from", "a date")
		}
	}
	if v := f.Get("to"); v != "" {
		if q.To, err = time.ParseInLocation("2006-01-02", v, time.UTC); err != nil {
			return q, errcode.Field("to", "a date")
		}
		q.To = q.To.AddDate(0, 0, 1) // the whole last day
	}
	return q, nil
}

func (s *Server) registerData(r *http.Request, q *request) (registerPage, error) {
	p := registerPage{Nav: q.nav("consent"), Export: q.steward()}
	list, err := s.consent.Purposes(r.Context())
	if err != nil {
		return p, err
	}
	chosen := r.PostFormValue("purpose")
	p.Purposes = append(p.Purposes, option{Value: "", Label: q.page.L.T("console.register.anypurpose"), Selected: chosen == ""})
	for _, pp := range list {
		p.Purposes = append(p.Purposes, option{Value: pp.Slug, Label: pp.Slug, Selected: chosen == pp.Slug})
	}
	p.Subject, p.From, p.To = r.PostFormValue("subject"), r.PostFormValue("from"), r.PostFormValue("to")
	return p, nil
}

// registerForm is the search form of the consent register.
func (s *Server) registerForm(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.needConsent(); err != nil {
		return err
	}
	p, err := s.registerData(r, q)
	if err != nil {
		return err
	}
	return s.render(w, http.StatusOK, "register", q, q.page.L.T("console.register.title"), p)
}

// registerSearch finds consent records by subject, purpose and time. It
// reads the consent history of people, so it is audited.
func (s *Server) registerSearch(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.needConsent(); err != nil {
		return err
	}
	p, err := s.registerData(r, q)
	if err != nil {
		return err
	}
	query, err := registerQuery(r)
	if err == nil {
		query.Limit = maxSearchRows + 1
		if err = s.staff.Audit(r.Context(), q.actor(), "consent.register.search", q.member.ID, "ok"); err != nil {
			return err
		}
		err = s.consent.Search(r.Context(), query, func(rec consent.Record) error {
			p.Rows = append(p.Rows, recordRow{At: stamp(rec.RecordedAt), Subject: rec.SubjectID, Kind: string(rec.Kind),
				Purpose: rec.Purpose, Notice: noticeRef(rec), Channel: string(rec.Channel), Action: string(rec.Action), By: rec.RecordedBy})
			return nil
		})
	}
	if errcode.Of(err) == errcode.Invalid {
		p.Error = q.page.L.T("console.register.invalid")
		return s.render(w, http.StatusBadRequest, "register", q, q.page.L.T("console.register.title"), p)
	}
	if err != nil {
		return err
	}
	p.Searched = true
	if len(p.Rows) > maxSearchRows {
		p.Rows, p.More = p.Rows[:maxSearchRows], true
	}
	return s.render(w, http.StatusOK, "register", q, q.page.L.T("console.register.title"), p)
}

func noticeRef(rec consent.Record) string {
	if rec.Notice == "" {
		return ""
	}
	return rec.Notice + " v" + itoa(rec.NoticeVersion)
}
