package portal

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/errcode"
)

// handoffSignIn verifies the host application's token and starts a
// session at level handoff. The token must not stay in the address bar,
// the history or a Referer: the answer is a redirect to the portal home
// at once, with Referrer-Policy no-referrer. Every refusal (expired,
// replayed, forged, wrong audience, unknown person) gets the same page,
// changes nothing and is audited by auth.Handoff.
func (s *Server) handoffSignIn(w http.ResponseWriter, r *http.Request, q *request) error {
	w.Header().Set("Referrer-Policy", "no-referrer")
	in, err := s.handoff.Verify(r.Context(), r.URL.Query().Get("token"))
	if errcode.Of(err) == errcode.Unauthorized {
		title := q.page.L.T("portal.handoff.failed.title")
		return s.render(w, http.StatusUnauthorized, "message", q, title, messagePage{Heading: title,
			Text: q.page.L.T("portal.handoff.failed.text"), Back: q.page.Href(Prefix + "signin"), BackL: q.page.L.T("portal.signin.bycode")})
	}
	if err != nil {
		return err
	}
	if err := s.startSession(w, r, q, in); err != nil {
		return err
	}
	s.redirect(w, r, Prefix)
	return nil
}
