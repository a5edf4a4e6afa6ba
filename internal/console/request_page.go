package console

import (
	"errors"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
)

// dsrActor is the member acting on requests, for dsr's audit events.
func (q *request) dsrActor() dsr.Actor { return dsr.Actor{Name: q.actor(), Purpose: "dsr"} }

type historyRow struct {
	At, Actor, What, From, To, Reason, Text string
	Erased                                  bool
}

type noteRow struct {
	At, Author, Text string
	Erased           bool
}

type transitionForm struct {
	To, Label string
	Codes     []option // reason codes that may justify it; empty: none needed
	NeedsText bool     // a justification in words is required
}

type fieldRow struct{ Name, Value string }

type requestPageData struct {
	Nav       nav
	R         dsr.Request
	Kind      string
	State     string
	Channel   string
	Received  string
	Target    string
	Legal     string
	Urgency   urgency
	Assigned  string
	Wait      string // time spent awaiting identity, when any
	ExtReason string
	Scope     []string
	All       bool
	Fields    []fieldRow
	Message   string
	Erased    bool // the personal details went with the subject
	History   []historyRow
	Notes     []noteRow
	// Forms, for staff that may change the request.
	Staff       bool
	Transitions []transitionForm
	Refusal     *transitionForm
	Templates   []option // the refusal reason templates: code label and wording
	CanErase    bool
	CanExtend   bool
	ExtendCodes []option
	Assignees   []option
	Error       string // why the last action was refused
}

// requestPage shows one request: its facts, what it asks, its full
// history, the internal notes and, for staff who may change it, the forms
// to move it on. Opening the history, details and notes is audited by dsr.
func (s *Server) requestPage(w http.ResponseWriter, r *http.Request, q *request) error {
	return s.showRequest(w, r, q, http.StatusOK, "")
}

// showRequest renders the request page with status and an error message.
func (s *Server) showRequest(w http.ResponseWriter, r *http.Request, q *request, status int, errMsg string) error {
	if s.requests == nil {
		return errcode.E(errcode.NotFound, "requests are not served here")
	}
	id := r.PathValue("id")
	if !dsr.ValidRequestID(id) {
		return errcode.E(errcode.NotFound, "no such request")
	}
	ctx := r.Context()
	rq, err := s.requests.Get(ctx, id)
	if err != nil {
		return err
	}
	a := q.dsrActor()
	l := q.page.L
	names := s.staffNames(r)
	now := s.now()
	p := requestPageData{Nav: q.nav("requests"), R: rq, Kind: l.T("console.kind." + string(rq.Kind)),
		State: l.T("console.state." + string(rq.State)), Channel: l.T("console.channel." + string(rq.Channel)),
		Received: stamp(rq.ReceivedAt), Target: stamp(rq.TargetDueAt), Legal: stamp(rq.LegalDueAt),
		Urgency: s.urgency(q, rq, now), Assigned: names[rq.AssignedTo], All: rq.Details.All, Error: errMsg}
	if rq.IdentityWait > 0 {
		p.Wait = rq.IdentityWait.Round(time.Minute).String()
	}
	if rq.Extended {
		p.ExtReason = l.T("console.reason." + string(rq.ExtensionReason))
	}
	p.Scope = slices.Concat(rq.Details.Categories, rq.Details.Purposes)
	if rq.SealedDetails {
		d, err := s.requests.OpenDetails(ctx, a, id)
		switch {
		case errcode.Of(err) == errcode.Gone:
			p.Erased = true
		case err != nil:
			return err
		default:
			for k, v := range d.Fields {
				p.Fields = append(p.Fields, fieldRow{k, v})
			}
			sort.Slice(p.Fields, func(i, j int) bool { return p.Fields[i].Name < p.Fields[j].Name })
			p.Message = d.Message
		}
	}
	events, err := s.requests.History(ctx, a, id)
	if err != nil {
		return err
	}
	for _, e := range events {
		h := historyRow{At: stamp(e.At), Actor: actorName(names, e.Actor), What: l.T("console.event." + string(e.Kind)),
			To: l.T("console.state." + string(e.To)), Text: e.Text, Erased: e.Erased}
		if e.From != "" && e.From != e.To {
			h.From = l.T("console.state." + string(e.From))
		}
		if e.Reason != "" {
			h.Reason = l.T("console.reason." + string(e.Reason))
		}
		p.History = append(p.History, h)
	}
	notes, err := s.requests.Notes(ctx, a, id)
	if err != nil {
		return err
	}
	for _, n := range notes {
		p.Notes = append(p.Notes, noteRow{At: stamp(n.At), Author: actorName(names, n.Author), Text: n.Text, Erased: n.Erased})
	}
	p.Staff = q.staffer() && rq.State.Open()
	if p.Staff {
		s.requestForms(r, q, rq, now, &p)
	}
	return s.render(w, status, "request", q, l.T("console.request.title", p.Kind), p)
}

// actionOrder is the order the console offers moves in: the usual next
// step first, the closing ones last.
var actionOrder = []dsr.State{dsr.InProgress, dsr.Completed, dsr.AwaitingApproval, dsr.AwaitingIdentity, dsr.Received, dsr.Withdrawn, dsr.Refused}

// requestForms fills in the forms staff may use on rq.
func (s *Server) requestForms(r *http.Request, q *request, rq dsr.Request, now time.Time, p *requestPageData) {
	l := q.page.L
	codes := func(to dsr.State) []option {
		var out []option
		for _, c := range dsr.ReasonCodes(to, rq.Kind) {
			out = append(out, option{Value: string(c), Label: l.T("console.reason." + string(c))})
		}
		return out
	}
	// An erasure request is completed by carrying it out (or sent for
	// approval by it), not by a bare change of state.
	p.CanErase = rq.Kind == dsr.Erasure && rq.State == dsr.InProgress && s.eraser != nil && rq.SubjectID != ""
	for _, to := range actionOrder {
		if !dsr.CanTransition(rq.State, to) {
			continue
		}
		if rq.Kind == dsr.Erasure && (to == dsr.Completed || to == dsr.AwaitingApproval) {
			continue
		}
		f := transitionForm{To: string(to), Label: l.T("console.request.to." + string(to)), Codes: codes(to)}
		if to == dsr.Refused {
			f.NeedsText = true
			p.Refusal = &f
			for _, c := range f.Codes {
				p.Templates = append(p.Templates, option{Value: c.Label, Label: l.T("console.template." + c.Value)})
			}
			continue
		}
		p.Transitions = append(p.Transitions, f)
	}
	p.CanExtend = !rq.Extended && now.Before(rq.LegalDueAt)
	for _, c := range dsr.ExtensionReasons() {
		p.ExtendCodes = append(p.ExtendCodes, option{Value: string(c), Label: l.T("console.reason." + string(c))})
	}
	p.Assignees = append(p.Assignees, option{Value: "", Label: l.T("console.requests.unassigned"), Selected: rq.AssignedTo == ""})
	if list, err := s.staff.List(r.Context()); err == nil {
		for _, m := range list {
			if m.Enrolled && m.Role != auth.RoleAuditor {
				p.Assignees = append(p.Assignees, option{Value: m.ID, Label: m.Email, Selected: rq.AssignedTo == m.Actor()})
			}
		}
	}
}

// actorName shows an audit actor: a member's e-mail address, or the actor
// as recorded ("apikey:…", "system", a person as "subject").
func actorName(names map[string]string, actor string) string {
	if n, ok := names[actor]; ok {
		return n
	}
	return actor
}

// afterAction answers a request form: back to the request page on
// success; on a refusal the page again, with the reason in words and the
// refusal's status (dsr has audited it and changed nothing).
func (s *Server) afterAction(w http.ResponseWriter, r *http.Request, q *request, err error) error {
	if err == nil {
		s.redirect(w, r, Prefix+"requests/"+r.PathValue("id"))
		return nil
	}
	l := q.page.L
	key := ""
	ce, coded := errcode.As(err)
	switch {
	case errors.Is(err, dsr.ErrAlreadyExtended):
		key = "console.request.err.extended"
	case errors.Is(err, dsr.ErrExtensionTooLate):
		key = "console.request.err.late"
	case !coded:
		return err
	case ce.Code == errcode.Invalid && (ce.Field == "reason.text" || ce.Field == "reason"):
		key = "console.request.err.reasontext"
	case ce.Code == errcode.Invalid && ce.Field == "reason.code":
		key = "console.request.err.reasoncode"
	case ce.Code == errcode.Invalid:
		key = "console.request.err.invalid"
	case ce.Code == errcode.Conflict:
		key = "console.request.err.conflict"
	default:
		return err
	}
	return s.showRequest(w, r, q, web400or409(ce), l.T(key))
}

func web400or409(e *errcode.Error) int {
	if e != nil && e.Code == errcode.Conflict {
		return http.StatusConflict
	}
	return http.StatusBadRequest
}
