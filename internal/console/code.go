package console

import (
	"errors"
	"net/http"

	"github.com/gdprd/gdprd/internal/auth"
)

type codePage struct {
	Error   string
	Passkey bool // the member has a passkey: offer it besides the code
}

// codeForm asks for the second factor after the password.
func (s *Server) codeForm(w http.ResponseWriter, r *http.Request, q *request) error {
	return s.renderCode(w, r, q, codePage{})
}

// renderCode shows the second-factor page, with the passkey option when
// the member has one (and its script).
func (s *Server) renderCode(w http.ResponseWriter, r *http.Request, q *request, p codePage) error {
	if s.passkeys != nil {
		has, err := s.passkeys.Has(r.Context(), q.sess.Principal)
		if err != nil {
			return err
		}
		if p.Passkey = has; has {
			q.page.Scripts = []string{passkeyScript}
		}
	}
	return s.render(w, http.StatusOK, "code", q, q.page.L.T("console.code.title"), p)
}

// code checks a TOTP or recovery code and, when right, replaces the
// half-signed-in session with a new one (a new id at sign-in).
func (s *Server) code(w http.ResponseWriter, r *http.Request, q *request) error {
	err := s.staff.SignInCode(r.Context(), q.sess.Principal, r.PostFormValue("code"), attempt(r))
	var rl *auth.RateLimitError
	switch {
	case errors.As(err, &rl):
		return s.rateLimited(w, q, rl)
	case errors.Is(err, auth.ErrSignIn):
		return s.renderCode(w, r, q, codePage{Error: q.page.L.T("console.code.failed")})
	case err != nil:
		return err
	}
	token, err := s.sessions.Rotate(r.Context(), q.sess, auth.LevelMFA, true)
	if err != nil {
		return err
	}
	startSession(w, token)
	s.redirect(w, r, Prefix)
	return nil
}
