package portal

import (
	"errors"
	"net/http"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/web"
)

// maxEmail bounds the address echoed back into the code page.
const maxEmail = 254

// signinPage is the Main of the e-mail form. Email is echoed back (escaped
// by html/template).
type signinPage struct {
	Email     string
	Error     string
	SignedOut bool
}

// codePage is the Main of the code form. The address travels in the form
// body, never in a URL.
type codePage struct {
	Email string
	Error string
}

// signinForm asks for an e-mail address.
func (s *Server) signinForm(w http.ResponseWriter, r *http.Request, q *request) error {
	return s.render(w, http.StatusOK, "signin", q, q.page.L.T("portal.signin.title"), signinPage{SignedOut: r.URL.Query().Get("out") == "1"})
}

// requestCode mails a code when the address belongs to someone, and
// answers the same code page whether it does or not.
func (s *Server) requestCode(w http.ResponseWriter, r *http.Request, q *request) error {
	email := r.PostFormValue("email")
	if len(email) > maxEmail {
		email = ""
	}
	err := s.codes.RequestCode(r.Context(), email, clientIP(r), q.page.L.Tag())
	var cl *auth.CodeLimitError
	switch {
	case errors.As(err, &cl):
		s.rateLimited(w, r, q, cl.RetryAfter)
		return nil
	case errcode.Of(err) == errcode.Invalid:
		return s.render(w, http.StatusBadRequest, "signin", q, q.page.L.T("portal.signin.title"),
			signinPage{Email: email, Error: q.page.L.T("portal.signin.invalid")})
	case err != nil:
		return err
	}
	return s.render(w, http.StatusOK, "code", q, q.page.L.T("portal.code.title"), codePage{Email: email})
}

// codeFormGet sends a visitor who opened the code page directly back to
// the address form: the code page needs the address posted to it.
func (s *Server) codeFormGet(w http.ResponseWriter, r *http.Request, q *request) error {
	s.redirect(w, r, q.page.Href(Prefix+"signin"))
	return nil
}

// verifyCode checks the code and, when right, starts a session at level
// email_code. Every wrong, reused or expired code gets the same answer.
func (s *Server) verifyCode(w http.ResponseWriter, r *http.Request, q *request) error {
	email := r.PostFormValue("email")
	if len(email) > maxEmail {
		email = ""
	}
	in, err := s.codes.VerifyCode(r.Context(), email, r.PostFormValue("code"), clientIP(r))
	var cl *auth.CodeLimitError
	switch {
	case errors.As(err, &cl):
		s.rateLimited(w, r, q, cl.RetryAfter)
		return nil
	case errcode.Of(err) == errcode.Unauthorized:
		return s.render(w, http.StatusOK, "code", q, q.page.L.T("portal.code.title"),
			codePage{Email: email, Error: q.page.L.T("portal.code.failed")})
	case err != nil:
		return err
	}
	if err := s.startSession(w, r, q, in); err != nil {
		return err
	}
	s.redirect(w, r, Prefix)
	return nil
}

// signout ends this session.
func (s *Server) signout(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.sessions.End(r.Context(), q.sess); err != nil {
		return err
	}
	if err := s.auditSubject(r.Context(), q.subject(), "subject.signout", "security", "ok"); err != nil {
		return err
	}
	web.ClearSessionCookie(w)
	s.redirect(w, r, Prefix+"signin?out=1")
	return nil
}
