package console

import (
	"encoding/json"
	"net/http"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/errcode"
)

// enrolment is the work in progress kept sealed in the session: the new
// password's hash and the TOTP secret to confirm. Nothing is written to
// the account until the first code confirms both.
type enrolment struct {
	PasswordHash string `json:"pw"`
	TOTPSecret   string `json:"totp"`
	URI          string `json:"uri"`
}

func pendingEnrolment(sess *auth.Session) enrolment {
	var e enrolment
	if sess.Pending != nil {
		json.Unmarshal(sess.Pending, &e)
	}
	return e
}

type enrolPasswordPage struct {
	Email string
	Error string
	Min   int
}

type enrolTOTPPage struct {
	Secret string
	Error  string
}

// enrolForm shows the step the enrolment is at: password, then TOTP.
func (s *Server) enrolForm(w http.ResponseWriter, r *http.Request, q *request) error {
	m, err := s.staff.Get(r.Context(), q.sess.Principal)
	if err != nil {
		return err
	}
	e := pendingEnrolment(q.sess)
	if e.PasswordHash == "" {
		return s.render(w, http.StatusOK, "enrol_password", q, q.page.L.T("console.enrol.password.title"), enrolPasswordPage{Email: m.Email, Min: 12})
	}
	return s.render(w, http.StatusOK, "enrol_totp", q, q.page.L.T("console.enrol.totp.title"), enrolTOTPPage{Secret: e.TOTPSecret})
}

// enrolPassword checks the new password against the policy, hashes it
// and makes the TOTP secret to confirm next.
func (s *Server) enrolPassword(w http.ResponseWriter, r *http.Request, q *request) error {
	m, err := s.staff.Get(r.Context(), q.sess.Principal)
	if err != nil {
		return err
	}
	pw := r.PostFormValue("password")
	fail := func(msg string) error {
		return s.render(w, http.StatusBadRequest, "enrol_password", q, q.page.L.T("console.enrol.password.title"),
			enrolPasswordPage{Email: m.Email, Error: msg, Min: 12})
	}
	if pw != r.PostFormValue("password2") {
		return fail(q.page.L.T("console.enrol.password.mismatch"))
	}
	if err := s.staff.CheckPassword(pw, m); err != nil {
		e, _ := errcode.As(err)
		return fail(q.page.L.T("console.enrol.password.rejected", e.Message))
	}
	hash, err := s.staff.HashPassword(pw)
	if err != nil {
		return err
	}
	k, err := auth.NewTOTP(s.issuer, m.Email)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(enrolment{PasswordHash: hash, TOTPSecret: k.Secret, URI: k.URI})
	if err := s.sessions.SetPending(r.Context(), q.sess, b); err != nil {
		return err
	}
	s.redirect(w, r, Prefix+"enrol")
	return nil
}
