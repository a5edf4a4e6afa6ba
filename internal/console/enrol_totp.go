package console

import (
	"bytes"
	"image/png"
	"net/http"

	"github.com/pquerna/otp"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/errcode"
)

// enrolQR serves the QR code of the otpauth URI being enrolled, as a PNG
// from this origin: the CSP's img-src 'self' allows it and no data: URI is
// needed. It is served only to the enrolment session, never cached.
func (s *Server) enrolQR(w http.ResponseWriter, r *http.Request, q *request) error {
	e := pendingEnrolment(q.sess)
	if e.URI == "" {
		return errcode.E(errcode.NotFound, "no enrolment in progress")
	}
	k, err := otp.NewKeyFromURL(e.URI)
	if err != nil {
		return err
	}
	img, err := k.Image(240, 240)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(buf.Bytes())
	return nil
}

type recoveryPage struct {
	Codes []string
}

// enrolTOTP confirms the TOTP secret with a first code, stores password
// and secret, starts a signed-in session (a new id) and shows the
// recovery codes, once.
func (s *Server) enrolTOTP(w http.ResponseWriter, r *http.Request, q *request) error {
	e := pendingEnrolment(q.sess)
	if e.PasswordHash == "" {
		s.redirect(w, r, Prefix+"enrol")
		return nil
	}
	codes, err := s.staff.CompleteEnrolment(r.Context(), q.sess.Principal, e.PasswordHash, e.TOTPSecret, r.PostFormValue("code"))
	if errcode.Of(err) == errcode.Invalid {
		return s.render(w, http.StatusBadRequest, "enrol_totp", q, q.page.L.T("console.enrol.totp.title"),
			enrolTOTPPage{Secret: e.TOTPSecret, Error: q.page.L.T("console.enrol.totp.failed")})
	}
	if err != nil {
		return err
	}
	// CompleteEnrolment ended every session of the member, this one too.
	token, err := s.sessions.Create(r.Context(), auth.NewSession{Kind: auth.SessionStaff, Principal: q.sess.Principal, Level: auth.LevelMFA, Fresh: true})
	if err != nil {
		return err
	}
	startSession(w, token)
	return s.render(w, http.StatusOK, "recovery", q, q.page.L.T("console.recovery.title"), recoveryPage{Codes: codes})
}
