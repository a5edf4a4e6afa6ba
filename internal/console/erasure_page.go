package console

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gdprd/gdprd/internal/errcode"
)

type erasureItemRow struct {
	Category, State, Reason, Due, DecidedBy, DecidedAt string
	Waiting                                            bool
}

type erasurePage struct {
	Nav       nav
	ID        string
	RequestID string
	Items     []erasureItemRow
	Receipt   string // the compact JWS
	Claims    string // its payload, indented
	Decide    bool
	Error     string
}

// erasurePage shows one erasure: the categories it did not erase at once
// with their fate, and its signed receipt with the claims spelled out.
func (s *Server) erasurePage(w http.ResponseWriter, r *http.Request, q *request) error {
	return s.showErasure(w, r, q, http.StatusOK, "")
}

func (s *Server) showErasure(w http.ResponseWriter, r *http.Request, q *request, status int, errMsg string) error {
	if s.eraser == nil {
		return errcode.E(errcode.NotFound, "erasures are not served here")
	}
	st, err := s.eraser.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	l := q.page.L
	names := s.staffNames(r)
	p := erasurePage{Nav: q.nav("erasures"), ID: st.ID, RequestID: st.RequestID, Receipt: st.Receipt,
		Claims: receiptClaims(st.Receipt), Decide: q.staffer(), Error: errMsg}
	for _, it := range st.Items {
		row := erasureItemRow{Category: it.Category, State: l.T("console.erasure.state." + it.State), Reason: it.Reason,
			DecidedBy: actorName(names, it.DecidedBy), Waiting: it.State == "awaiting_approval"}
		if it.DueAt != nil {
			row.Due = stamp(*it.DueAt)
		}
		if it.DecidedAt != nil {
			row.DecidedAt = stamp(*it.DecidedAt)
		}
		p.Items = append(p.Items, row)
	}
	return s.render(w, status, "erasure", q, l.T("console.erasure.title"), p)
}

// receiptClaims shows the payload of a compact JWS, indented. The
// signature is checked by whoever relies on the receipt (the JWKS is
// public); here it is only displayed.
func receiptClaims(jws string) string {
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return ""
	}
	return out.String()
}
