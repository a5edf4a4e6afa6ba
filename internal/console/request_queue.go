package console

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
)

// openStates are the states the queue shows by default: the requests that
// still need an answer.
var openStates = []dsr.State{dsr.Received, dsr.AwaitingIdentity, dsr.InProgress, dsr.AwaitingApproval}

var allStates = []dsr.State{dsr.Received, dsr.AwaitingIdentity, dsr.InProgress, dsr.AwaitingApproval, dsr.Completed, dsr.Refused, dsr.Withdrawn}

var allKinds = []dsr.Kind{dsr.Access, dsr.Export, dsr.Erasure, dsr.Rectification, dsr.Restriction, dsr.Objection}

type option struct {
	Value, Label string
	Selected     bool
}

// urgency is how a request's deadline stands, said in words (the badge's
// colour only repeats it).
type urgency struct {
	Key   string // "", "overdue", "legal", "soon"
	Label string
}

func (s *Server) urgency(q *request, r dsr.Request, now time.Time) urgency {
	if !r.State.Open() {
		return urgency{}
	}
	switch {
	case now.After(r.LegalDueAt):
		return urgency{"legal", q.page.L.T("console.requests.legallyoverdue")}
	case now.After(r.TargetDueAt):
		return urgency{"overdue", q.page.L.T("console.requests.overdue")}
	case r.TargetDueAt.Before(now.Add(dsr.DueSoonWindow)):
		return urgency{"soon", q.page.L.T("console.requests.duesoon")}
	}
	return urgency{}
}

type queueRow struct {
	ID, Kind, State, Channel string
	Received, Target, Legal  string
	Urgency                  urgency
	Assigned                 string
	Extended                 bool
}

type queuePage struct {
	Nav    nav
	Kinds  []option
	States []option
	Rows   []queueRow
	Next   string // the link to the next page, when there is one
	Counts dsr.Counts
	Staff  bool // may enter a request
}

// staffers are the roles that change requests; the auditor only reads.
func (q *request) staffer() bool { return q.member != nil && q.member.Role != "auditor" }

// requestQueue lists requests soonest target first, open ones unless a
// state is chosen, with the overdue and the due-this-week marked in words.
func (s *Server) requestQueue(w http.ResponseWriter, r *http.Request, q *request) error {
	if s.requests == nil {
		return errcode.E(errcode.NotFound, "requests are not served here")
	}
	f := dsr.Filter{States: openStates, Limit: 50}
	kind, state := r.URL.Query().Get("kind"), r.URL.Query().Get("state")
	if kind != "" {
		f.Kinds = []dsr.Kind{dsr.Kind(kind)}
	}
	if state != "" {
		f.States = []dsr.State{dsr.State(state)}
	}
	if after := r.URL.Query().Get("after"); after != "" {
		micros, id, ok := strings.Cut(after, "_")
		n, err := strconv.ParseInt(micros, 10, 64)
		if !ok || err != nil || !dsr.ValidRequestID(id) {
			return errcode.Field("after", "not a queue position")
		}
		f.After = &dsr.Position{TargetDueAt: time.UnixMicro(n).UTC(), ID: id}
	}
	list, err := s.requests.List(r.Context(), f)
	if err != nil {
		return err
	}
	counts, err := s.requests.Counts(r.Context())
	if err != nil {
		return err
	}
	l := q.page.L
	p := queuePage{Nav: q.nav("requests"), Counts: counts, Staff: q.staffer()}
	p.Kinds = append(p.Kinds, option{Value: "", Label: l.T("console.requests.anykind"), Selected: kind == ""})
	for _, k := range allKinds {
		p.Kinds = append(p.Kinds, option{Value: string(k), Label: l.T("console.kind." + string(k)), Selected: kind == string(k)})
	}
	p.States = append(p.States, option{Value: "", Label: l.T("console.requests.openstates"), Selected: state == ""})
	for _, st := range allStates {
		p.States = append(p.States, option{Value: string(st), Label: l.T("console.state." + string(st)), Selected: state == string(st)})
	}
	now := s.now()
	names := s.staffNames(r)
	for _, rq := range list {
		p.Rows = append(p.Rows, queueRow{ID: rq.ID, Kind: l.T("console.kind." + string(rq.Kind)),
			State: l.T("console.state." + string(rq.State)), Channel: l.T("console.channel." + string(rq.Channel)),
			Received: stamp(rq.ReceivedAt), Target: stamp(rq.TargetDueAt), Legal: stamp(rq.LegalDueAt),
			Urgency: s.urgency(q, rq, now), Assigned: names[rq.AssignedTo], Extended: rq.Extended})
	}
	if len(list) == f.Limit {
		last := list[len(list)-1]
		v := r.URL.Query()
		v.Set("after", strconv.FormatInt(last.TargetDueAt.UnixMicro(), 10)+"_"+last.ID)
		p.Next = Prefix + "requests?" + v.Encode()
	}
	return s.render(w, http.StatusOK, "requests", q, l.T("console.requests.title"), p)
}

// stamp shows an instant in UTC to the minute, the same for every reader.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04") + " UTC"
}

// staffNames maps "staff:<id>" to the member's e-mail address, for
// showing who a request is assigned to.
func (s *Server) staffNames(r *http.Request) map[string]string {
	out := map[string]string{}
	list, err := s.staff.List(r.Context())
	if err != nil {
		return out
	}
	for _, m := range list {
		out[m.Actor()] = m.Email
	}
	return out
}
