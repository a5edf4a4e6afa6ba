package console

import (
	"errors"
	"net/http"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/errcode"
)

// passkeyScript is the static script that calls the browser's WebAuthn
// API with the options the server sends and posts the answer back in a
// form field. It is the only script the passkey pages add (CSP
// script-src 'self', no inline script).
const passkeyScript = "passkey.js"

// maxCredentialJSON bounds the posted PublicKeyCredential JSON (the form
// as a whole is bounded by maxForm).
const maxCredentialJSON = 12 << 10

type passkeyRow struct {
	ID, Name, Created, LastUsed string
}

type passkeysPage struct {
	Nav    nav
	Rows   []passkeyRow
	Fresh  bool // a second factor was given recently: registering works without a step-up
	Notice string
	Error  string
	Name   string
}

func (s *Server) needPasskeys() error {
	if s.passkeys == nil {
		return errcode.E(errcode.NotFound, "passkeys are not served")
	}
	return nil
}

func (s *Server) renderPasskeys(w http.ResponseWriter, r *http.Request, q *request, status int, p passkeysPage) error {
	list, err := s.passkeys.List(r.Context(), q.member.ID)
	if err != nil {
		return err
	}
	p.Nav = q.nav("passkeys")
	p.Fresh = q.sess.Fresh(s.now(), FreshFor)
	for _, k := range list {
		row := passkeyRow{ID: k.ID, Name: k.Name, Created: k.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"), LastUsed: q.page.L.T("console.passkeys.never")}
		if !k.LastUsed.IsZero() {
			row.LastUsed = k.LastUsed.UTC().Format("2006-01-02 15:04 UTC")
		}
		p.Rows = append(p.Rows, row)
	}
	q.page.Scripts = []string{passkeyScript}
	return s.render(w, status, "passkeys", q, q.page.L.T("console.passkeys.title"), p)
}

// passkeyList shows the member's own passkeys and the form to add one.
func (s *Server) passkeyList(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.needPasskeys(); err != nil {
		return err
	}
	p := passkeysPage{}
	switch r.URL.Query().Get("done") {
	case "added":
		p.Notice = q.page.L.T("console.passkeys.added")
	case "removed":
		p.Notice = q.page.L.T("console.passkeys.removed")
	}
	return s.renderPasskeys(w, r, q, http.StatusOK, p)
}

// writeJSON answers the options of a WebAuthn ceremony; never cached.
func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}

// passkeyOptions begins a registration: the creation options as JSON,
// for the script. It needs a fresh second factor, as registering does.
func (s *Server) passkeyOptions(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.needPasskeys(); err != nil {
		return err
	}
	opts, err := s.passkeys.BeginRegistration(r.Context(), q.sess, q.member)
	if err != nil {
		return err
	}
	writeJSON(w, opts)
	return nil
}

// passkeyRegister finishes a registration with the credential the script
// put in the form. Without JavaScript the field is empty: the page says
// that passkeys need it.
func (s *Server) passkeyRegister(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.needPasskeys(); err != nil {
		return err
	}
	name, cred := r.PostFormValue("name"), r.PostFormValue("credential")
	if cred == "" || len(cred) > maxCredentialJSON {
		return s.renderPasskeys(w, r, q, http.StatusBadRequest, passkeysPage{Name: name, Error: q.page.L.T("console.passkeys.needjs")})
	}
	_, err := s.passkeys.FinishRegistration(r.Context(), q.sess, q.member, name, []byte(cred))
	switch {
	case errors.Is(err, auth.ErrPasskey):
		return s.renderPasskeys(w, r, q, http.StatusBadRequest, passkeysPage{Name: name, Error: q.page.L.T("console.passkeys.failed")})
	case errcode.Of(err) == errcode.Invalid:
		return s.renderPasskeys(w, r, q, http.StatusBadRequest, passkeysPage{Name: name, Error: q.page.L.T("console.passkeys.badname")})
	case err != nil:
		return err
	}
	s.redirect(w, r, Prefix+"passkeys?done=added")
	return nil
}

// passkeyRemove removes one of the member's own passkeys.
func (s *Server) passkeyRemove(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.needPasskeys(); err != nil {
		return err
	}
	if err := s.passkeys.Remove(r.Context(), q.member, r.PathValue("id")); err != nil {
		return err
	}
	s.redirect(w, r, Prefix+"passkeys?done=removed")
	return nil
}

// signinPasskeyOptions begins a passkey sign-in after the password: the
// request options as JSON, naming the member's own passkeys.
func (s *Server) signinPasskeyOptions(w http.ResponseWriter, r *http.Request, q *request) error {
	return s.assertionOptions(w, r, q, q.sess.Principal)
}

// assertionOptions answers the request options of a passkey ceremony for
// memberID's own passkeys, bound to the session.
func (s *Server) assertionOptions(w http.ResponseWriter, r *http.Request, q *request, memberID string) error {
	if err := s.needPasskeys(); err != nil {
		return err
	}
	opts, err := s.passkeys.BeginLogin(r.Context(), q.sess, memberID)
	if errors.Is(err, auth.ErrSignIn) {
		return errcode.E(errcode.NotFound, "no passkey")
	}
	if err != nil {
		return err
	}
	writeJSON(w, opts)
	return nil
}

// checkPasskey checks the assertion the script put in the form against
// memberID's passkeys; an over-long answer is checked as an empty one.
func (s *Server) checkPasskey(r *http.Request, q *request, memberID string) error {
	if err := s.needPasskeys(); err != nil {
		return err
	}
	cred := r.PostFormValue("credential")
	if len(cred) > maxCredentialJSON {
		cred = ""
	}
	return s.passkeys.FinishLogin(r.Context(), q.sess, memberID, []byte(cred), attempt(r))
}

// signinPasskey checks the assertion the script put in the form as the
// second factor and, when right, replaces the half-signed-in session with
// a new one, as a right code does.
func (s *Server) signinPasskey(w http.ResponseWriter, r *http.Request, q *request) error {
	err := s.checkPasskey(r, q, q.sess.Principal)
	var rl *auth.RateLimitError
	switch {
	case errors.As(err, &rl):
		return s.rateLimited(w, q, rl)
	case errors.Is(err, auth.ErrSignIn):
		return s.renderCode(w, r, q, codePage{Error: q.page.L.T("console.code.passkey.failed")})
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

// stepUpPasskeyOptions begins a passkey step-up: a fresh second factor
// for a sensitive action, given with a passkey instead of a code.
func (s *Server) stepUpPasskeyOptions(w http.ResponseWriter, r *http.Request, q *request) error {
	return s.assertionOptions(w, r, q, q.member.ID)
}

// stepUpPasskey checks the assertion and records a fresh second factor
// with a new session id, as a right code on the step-up page does.
func (s *Server) stepUpPasskey(w http.ResponseWriter, r *http.Request, q *request) error {
	err := s.checkPasskey(r, q, q.member.ID)
	var rl *auth.RateLimitError
	switch {
	case errors.As(err, &rl):
		return s.rateLimited(w, q, rl)
	case errors.Is(err, auth.ErrSignIn):
		return s.renderStepUp(w, r, q, stepUpPage{Next: r.PostFormValue("next"), Error: q.page.L.T("console.code.passkey.failed")})
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
