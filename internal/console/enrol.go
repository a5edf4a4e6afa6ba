package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/auth"
)

type enrolLinkPage struct{ Token string }

// enrolLink shows the page an enrolment link opens. It does not use the
// token up: a link preview or prefetch must not burn it. The button
// posts it to enrolStart.
func (s *Server) enrolLink(w http.ResponseWriter, r *http.Request, q *request) error {
	return s.render(w, http.StatusOK, "enrol_link", q, q.page.L.T("console.enrol.title"), enrolLinkPage{Token: r.PathValue("token")})
}

// enrolStart uses the token up and starts an enrolment session, so the
// token leaves the address bar and the next steps need the cookie.
func (s *Server) enrolStart(w http.ResponseWriter, r *http.Request, q *request) error {
	m, err := s.staff.StartEnrolment(r.Context(), r.PostFormValue("token"))
	if err != nil {
		return err
	}
	if q.sess != nil {
		s.sessions.End(r.Context(), q.sess)
	}
	token, err := s.sessions.Create(r.Context(), auth.NewSession{Kind: auth.SessionStaff, Principal: m.ID, Level: auth.LevelEnrol})
	if err != nil {
		return err
	}
	startSession(w, token)
	s.redirect(w, r, Prefix+"enrol")
	return nil
}
