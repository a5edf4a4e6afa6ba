package console

import (
	"errors"
	"net/http"

	"github.com/gdprd/gdprd/internal/auth"
)

// signinPage is the Main of the sign-in form. Email is echoed back
// (escaped by html/template); the password never is.
type signinPage struct {
	Email string
	Error string
}

// signinForm shows the e-mail and password form.
func (s *Server) signinForm(w http.ResponseWriter, r *http.Request, q *request) error {
	return s.render(w, http.StatusOK, "signin", q, q.page.L.T("console.signin.title"), signinPage{})
}

// signin checks the first factor. Every refusal (unknown e-mail, wrong
// password, unenrolled or locked account) gets the same page.
func (s *Server) signin(w http.ResponseWriter, r *http.Request, q *request) error {
	email := r.PostFormValue("email")
	id, err := s.staff.SignInPassword(r.Context(), email, r.PostFormValue("password"), attempt(r))
	var rl *auth.RateLimitError
	switch {
	case errors.As(err, &rl):
		return s.rateLimited(w, q, rl)
	case errors.Is(err, auth.ErrSignIn):
		return s.render(w, http.StatusOK, "signin", q, q.page.L.T("console.signin.title"),
			signinPage{Email: email, Error: q.page.L.T("console.signin.failed")})
	case err != nil:
		return err
	}
	if q.sess != nil {
		s.sessions.End(r.Context(), q.sess)
	}
	token, err := s.sessions.Create(r.Context(), auth.NewSession{Kind: auth.SessionStaff, Principal: id, Level: auth.LevelPassword})
	if err != nil {
		return err
	}
	startSession(w, token)
	s.redirect(w, r, Prefix+"signin/code")
	return nil
}
