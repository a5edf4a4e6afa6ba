package console

import (
	"net/http"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
)

// receivedLayout is the format of the receipt time field (an HTML
// datetime-local input), read in UTC.
const receivedLayout = "2006-01-02T15:04"

// requestCreate enters a request received by letter, phone or e-mail, with
// the time it really arrived: the deadlines count from then (dsr refuses a
// time in the future). A duplicate of an open request is merged by dsr.
func (s *Server) requestCreate(w http.ResponseWriter, r *http.Request, q *request) error {
	if s.requests == nil {
		return errcode.E(errcode.NotFound, "requests are not served here")
	}
	f := r.PostForm
	p := s.newRequestData(q, f.Get("kind"), f.Get("channel"))
	p.Subject, p.Received, p.Categories, p.Purposes = f.Get("subject"), f.Get("received_at"), f.Get("categories"), f.Get("purposes")
	p.Fields, p.Message, p.All = f.Get("fields"), f.Get("message"), f.Get("all") != ""
	n := dsr.NewRequest{SubjectID: strings.TrimSpace(p.Subject), Kind: dsr.Kind(f.Get("kind")), Channel: dsr.Channel(f.Get("channel")),
		Details: dsr.Details{All: p.All, Categories: words(p.Categories), Purposes: words(p.Purposes), Message: strings.TrimSpace(p.Message)}}
	var err error
	if !isStaffChannel(n.Channel) {
		err = errcode.Field("channel", "staff enter requests received by letter, e-mail or phone")
	}
	if err == nil && p.Received != "" {
		n.ReceivedAt, err = time.ParseInLocation(receivedLayout, p.Received, time.UTC)
		if err != nil {
			err = errcode.Field("received_at", "the receipt time is a date and time")
		}
	}
	if err == nil {
		n.Details.Fields, err = fieldLines(p.Fields)
	}
	var sub dsr.Submitted
	if err == nil {
		sub, err = s.requests.Submit(r.Context(), q.dsrActor(), n)
	}
	if err == nil {
		s.redirect(w, r, Prefix+"requests/"+sub.ID)
		return nil
	}
	ce, coded := errcode.As(err)
	if !coded || ce.Code == errcode.Forbidden || ce.Code == errcode.Internal {
		return err
	}
	p.Error = q.page.L.T("console.requestnew.invalid")
	if ce.Code == errcode.NotFound {
		p.Error = q.page.L.T("console.requestnew.nosubject")
	}
	return s.render(w, http.StatusBadRequest, "request_new", q, q.page.L.T("console.requestnew.title"), p)
}

func isStaffChannel(c dsr.Channel) bool {
	for _, s := range staffChannels {
		if c == s {
			return true
		}
	}
	return false
}

// words splits a list typed as "a, b c".
func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// fieldLines reads corrections typed one per line as "field = value".
func fieldLines(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, errcode.Field("details.fields", "a correction is written as field = value")
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
