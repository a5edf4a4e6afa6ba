package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gdprd/gdprd/internal/auth"
)

type stepUpPage struct {
	Nav     nav
	Next    string
	Error   string
	Passkey bool // the member has a passkey: offer it besides the code
}

// renderStepUp shows the step-up page, with the passkey option when the
// member has one.
func (s *Server) renderStepUp(w http.ResponseWriter, r *http.Request, q *request, p stepUpPage) error {
	p.Nav, p.Next = q.nav(""), safeNext(p.Next)
	if s.passkeys != nil {
		has, err := s.passkeys.Has(r.Context(), q.member.ID)
		if err != nil {
			return err
		}
		if p.Passkey = has; has {
			q.page.Scripts = []string{passkeyScript}
		}
	}
	return s.render(w, http.StatusOK, "stepup", q, q.page.L.T("console.stepup.title"), p)
}

// safeNext keeps a return address inside the console (no open redirect).
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}

// stepUpPrompt asks for a second factor again before a sensitive action,
// then returns to back (the page whose form needs it; the staff page when
// empty) or, for a page, to the page itself.
func (s *Server) stepUpPrompt(w http.ResponseWriter, r *http.Request, q *request, back string) {
	next := r.URL.Path
	if r.Method != http.MethodGet {
		next = back
		if next == "" {
			next = Prefix + "staff"
		}
	}
	if err := s.renderStepUp(w, r, q, stepUpPage{Next: next}); err != nil {
		s.fail(w, r, err)
	}
}

func (s *Server) stepUpForm(w http.ResponseWriter, r *http.Request, q *request) error {
	return s.renderStepUp(w, r, q, stepUpPage{Next: r.URL.Query().Get("next")})
}

// stepUp checks a second factor and records it as fresh, with a new
// session id (a privilege change).
func (s *Server) stepUp(w http.ResponseWriter, r *http.Request, q *request) error {
	err := s.staff.SignInCode(r.Context(), q.member.ID, r.PostFormValue("code"), attempt(r))
	var rl *auth.RateLimitError
	switch {
	case errors.As(err, &rl):
		return s.rateLimited(w, q, rl)
	case errors.Is(err, auth.ErrSignIn):
		return s.renderStepUp(w, r, q, stepUpPage{Next: r.PostFormValue("next"), Error: q.page.L.T("console.code.failed")})
	case err != nil:
		return err
	}
	token, err := s.sessions.Rotate(r.Context(), q.sess, auth.LevelMFA, true)
	if err != nil {
		return err
	}
	startSession(w, token)
	s.redirect(w, r, safeNext(r.PostFormValue("next")))
	return nil
}
