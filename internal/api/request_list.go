package api

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/web"
)

// requestPage is the answer of GET /requests.
type requestPage struct {
	Requests []dsr.Request `json:"requests"`
	// NextCursor continues the listing; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// requestList answers GET /requests?kind=…&state=…&limit=…&cursor=…:
// requests soonest target first (the staff queue's order), kind and state
// repeatable or comma-separated. The cursor is opaque to clients: it
// encodes the last request's place in that order, so pages neither skip
// nor repeat requests while new ones arrive.
func (s *Server) requestList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for name := range q {
		switch name {
		case "kind", "state", "limit", "cursor":
		default:
			return errcode.Field(name, "unknown query parameter %q; use kind, state, limit and cursor", name)
		}
	}
	var f dsr.Filter
	for _, k := range values(q["kind"]) {
		f.Kinds = append(f.Kinds, dsr.Kind(k))
	}
	for _, st := range values(q["state"]) {
		f.States = append(f.States, dsr.State(st))
	}
	f.Limit = dsr.DefaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > dsr.MaxListLimit {
			return errcode.Field("limit", "limit is 1 to %d", dsr.MaxListLimit)
		}
		f.Limit = n
	}
	if c := q.Get("cursor"); c != "" {
		pos, ok := parseCursor(c)
		if !ok {
			return errcode.Field("cursor", "the cursor is not one this API returned")
		}
		f.After = &pos
	}
	// One more than asked tells whether there is a next page.
	want := f.Limit
	f.Limit++
	reqs, err := s.Requests.List(r.Context(), f)
	if err != nil {
		return err
	}
	page := requestPage{Requests: reqs}
	if len(reqs) > want {
		page.Requests = reqs[:want]
		page.NextCursor = cursorOf(dsr.PositionOf(reqs[want-1]))
	}
	web.WriteJSON(w, http.StatusOK, page)
	return nil
}

// values splits repeated and comma-separated query values.
func values(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func cursorOf(p dsr.Position) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(sqlstore.Micros(p.TargetDueAt), 10) + "/" + p.ID))
}

func parseCursor(c string) (dsr.Position, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return dsr.Position{}, false
	}
	us, id, ok := strings.Cut(string(b), "/")
	n, err := strconv.ParseInt(us, 10, 64)
	if !ok || err != nil || !dsr.ValidRequestID(id) {
		return dsr.Position{}, false
	}
	return dsr.Position{TargetDueAt: sqlstore.FromMicros(n).In(time.UTC), ID: id}, true
}
