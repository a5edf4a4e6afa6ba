package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
)

// staffChannels are the ways a request reaches staff to be entered by hand.
var staffChannels = []dsr.Channel{dsr.StaffLetter, dsr.StaffEmail, dsr.StaffPhone}

type newRequestPage struct {
	Nav      nav
	Kinds    []option
	Channels []option
	// Echoed after a refusal.
	Subject, Received, Categories, Purposes, Fields, Message string
	All                                                      bool
	Error                                                    string
}

func (s *Server) newRequestData(q *request, kind, channel string) newRequestPage {
	l := q.page.L
	p := newRequestPage{Nav: q.nav("requests")}
	for _, k := range allKinds {
		p.Kinds = append(p.Kinds, option{Value: string(k), Label: l.T("console.kind." + string(k)), Selected: kind == string(k)})
	}
	for _, c := range staffChannels {
		p.Channels = append(p.Channels, option{Value: string(c), Label: l.T("console.channel." + string(c)), Selected: channel == string(c)})
	}
	return p
}

// requestNewForm is the form for a request received by letter, phone or
// e-mail, with its real time of receipt.
func (s *Server) requestNewForm(w http.ResponseWriter, r *http.Request, q *request) error {
	if s.requests == nil {
		return errcode.E(errcode.NotFound, "requests are not served here")
	}
	return s.render(w, http.StatusOK, "request_new", q, q.page.L.T("console.requestnew.title"), s.newRequestData(q, "", ""))
}
