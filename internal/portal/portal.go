// Package portal is the privacy portal at /privacy/, where data subjects
// see and control what is held about them: sign-in (by the host
// application's hand-off token or by a code mailed to them), "My data"
// with the Art. 15 information, "Request my data" (a ZIP download at
// once), privacy choices (consent, objection, receipts, history) and the
// re-acceptance of materially changed notices.
//
// Every route is listed in one table (routes.go) with whether it needs a
// signed-in person; the wrapper enforces it before any handler runs. The
// person's subject id comes only from the session: no route takes a
// subject id from the URL or a form, so nobody can reach another person's
// data. Every page works without JavaScript.
package portal

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/export"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/ui"
	"github.com/gdprd/gdprd/internal/vault"
	"github.com/gdprd/gdprd/internal/web"
)

// Prefix is where the portal lives.
const Prefix = "/privacy/"

// maxForm bounds a posted form; larger bodies are refused with 413.
const maxForm = 8 << 10

// DefaultSignInRate is how many sign-in requests (hand-off, code request,
// code entry) one client address may make per minute, with a burst of as
// many. The e-mail code limits in the database (per address and per IP,
// across replicas) apply on top.
const DefaultSignInRate = 20

// Options configure a Server. All but UI, Log, Clock and SignInRate are
// required.
type Options struct {
	DB       *sqlstore.DB
	Audit    *audit.Log
	Keyring  *keys.Keyring
	Sessions *auth.Sessions
	Handoff  *auth.Handoff
	Codes    *auth.EmailCodes
	Consent  *consent.Register
	Receipts *consent.Receipts
	Exports  *export.Exporter
	Vault    *vault.Vault
	Requests *dsr.Service
	// EditableFields are the fields people correct themself, as
	// "category.field" or "category.*" (config.Config.EditableFields);
	// corrections of others become rectification requests.
	EditableFields []string
	UI             *ui.UI // nil: ui.MustNew with no organisation name
	Log            *slog.Logger
	Clock          func() time.Time // time.Now when nil
	// SignInRate limits each client address on the sign-in endpoints, per
	// minute (DefaultSignInRate when zero).
	SignInRate int
}

// Server serves the portal.
type Server struct {
	db       *sqlstore.DB
	audit    *audit.Log
	kr       *keys.Keyring
	sessions *auth.Sessions
	handoff  *auth.Handoff
	codes    *auth.EmailCodes
	consent  *consent.Register
	receipts *consent.Receipts
	exports  *export.Exporter
	vault    *vault.Vault
	requests *dsr.Service
	ui       *ui.UI
	log      *slog.Logger
	now      func() time.Time

	editableFields []string

	rate     int
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

// New returns a Server.
func New(o Options) (*Server, error) {
	if o.DB == nil || o.Audit == nil || o.Keyring == nil || o.Sessions == nil || o.Handoff == nil || o.Codes == nil ||
		o.Consent == nil || o.Receipts == nil || o.Exports == nil || o.Vault == nil || o.Requests == nil {
		return nil, errors.New("portal: database, audit, keyring, sessions, hand-off, codes, consent, receipts, exports, vault and requests are required")
	}
	s := &Server{db: o.DB, audit: o.Audit, kr: o.Keyring, sessions: o.Sessions, handoff: o.Handoff, codes: o.Codes,
		consent: o.Consent, receipts: o.Receipts, exports: o.Exports, vault: o.Vault, requests: o.Requests,
		editableFields: o.EditableFields, ui: o.UI, log: o.Log, now: o.Clock,
		rate: o.SignInRate, limiters: map[string]*rate.Limiter{}}
	if s.ui == nil {
		s.ui = ui.MustNew(ui.Options{})
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rate <= 0 {
		s.rate = DefaultSignInRate
	}
	return s, nil
}

// Handler returns the portal behind the browser chain and subject
// sessions. Mount it at Prefix.
func (s *Server) Handler(m *web.Metrics) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.Pattern, s.guard(rt))
	}
	mux.Handle(Prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, errcode.E(errcode.NotFound, "no such page"))
	}))
	load := func(ctx context.Context, token string) (*auth.Session, error) {
		sess, err := s.sessions.Get(ctx, token)
		if err == nil && (sess.Kind != auth.SessionSubject || !verifiedLevel(sess.Level)) {
			return nil, auth.ErrNoSession
		}
		return sess, err
	}
	return web.Browser(s.log, m)(web.WithSession(load)(mux))
}

// verifiedLevel reports whether level is one a subject session is
// started with.
func verifiedLevel(level string) bool {
	return level == auth.VerifiedByHandoff || level == auth.VerifiedByEmailCode
}

// request is what a handler gets besides w and r.
type request struct {
	sess *auth.Session // nil on public routes without a session
	page *ui.Page
}

// subject is the signed-in person's id: the only source of a subject id
// in the portal.
func (q *request) subject() string { return q.sess.Principal }

// actor names the signed-in person in audit events and consent records.
func (q *request) actor() string { return "subject:" + q.sess.Principal }

// guard parses and bounds forms, enforces sign-in and the per-address
// limit of sign-in routes, then runs the handler.
func (s *Server) guard(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			limit := int64(maxForm)
			if rt.MaxForm > 0 {
				limit = rt.MaxForm
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			if err := r.ParseForm(); err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					s.fail(w, r, errcode.E(errcode.TooLarge, "form too large"))
					return
				}
				s.fail(w, r, errcode.E(errcode.Invalid, "malformed form"))
				return
			}
		}
		q := &request{page: s.ui.NewPage(r)}
		q.sess, _ = web.SessionFrom[*auth.Session](r.Context())
		if rt.Limited {
			if wait, ok := s.allow(clientIP(r)); !ok {
				s.rateLimited(w, r, q, wait)
				return
			}
		}
		if rt.SignedIn && q.sess == nil {
			if r.Method == http.MethodGet {
				s.redirect(w, r, Prefix+"signin")
				return
			}
			s.fail(w, r, auth.ErrNoSession)
			return
		}
		if err := rt.handle(s, w, r, q); err != nil {
			s.fail(w, r, err)
		}
	})
}

// allow takes one token from the address's limiter; when none is left it
// returns how long until one is.
func (s *Server) allow(ip string) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lim, ok := s.limiters[ip]
	if !ok {
		if len(s.limiters) > 100_000 { // bound memory under a flood of addresses
			s.limiters = map[string]*rate.Limiter{}
		}
		lim = rate.NewLimiter(rate.Every(time.Minute/time.Duration(s.rate)), s.rate)
		s.limiters[ip] = lim
	}
	now := s.now()
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

// clientIP is the connection's address (a proxy's X-Forwarded-For is not
// trusted here, as in the console).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// messagePage is the Main of message pages (errors, refusals).
type messagePage struct {
	Heading, Text, Back, BackL string
}

// fail answers an error with a translated page and the error's status.
// The text never says more than the error kind.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := web.Status(err)
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "portal page failed", "request_id", web.RequestID(r.Context()), "err", err)
	}
	var cl *auth.CodeLimitError
	if errors.As(err, &cl) {
		s.rateLimited(w, r, &request{page: s.ui.NewPage(r)}, cl.RetryAfter)
		return
	}
	p := s.ui.NewPage(r)
	key := "portal.error.other"
	switch status {
	case http.StatusBadRequest:
		key = "portal.error.invalid"
	case http.StatusUnauthorized:
		key = "portal.error.signin"
	case http.StatusForbidden:
		key = "portal.error.forbidden"
	case http.StatusNotFound:
		key = "portal.error.notfound"
	case http.StatusRequestEntityTooLarge:
		key = "portal.error.toolarge"
	case http.StatusTooManyRequests:
		key = "portal.ratelimited"
	}
	p.Title = p.L.T(key + ".title")
	p.Main = messagePage{Heading: p.Title, Text: p.L.T(key + ".text"), Back: p.Href(Prefix), BackL: p.L.T("portal.back")}
	if err := s.ui.Render(w, status, "portal/message", p); err != nil {
		http.Error(w, http.StatusText(status), status)
	}
}

// render writes a portal page with status.
func (s *Server) render(w http.ResponseWriter, status int, name string, q *request, title string, main any) error {
	q.page.Title = title
	q.page.Main = main
	if err := s.ui.Render(w, status, "portal/"+name, q.page); err != nil {
		return errcode.Wrap(err, errcode.Internal, "render %s", name)
	}
	return nil
}

// redirect answers with 303 See Other.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// rateLimited answers 429 with Retry-After and RateLimit headers.
func (s *Server) rateLimited(w http.ResponseWriter, r *http.Request, q *request, wait time.Duration) {
	web.SetRateLimited(w, wait, s.rate, time.Minute)
	secs := int(wait.Seconds() + 0.999)
	if secs < 1 {
		secs = 1
	}
	title := q.page.L.T("portal.ratelimited.title")
	if err := s.render(w, http.StatusTooManyRequests, "message", q, title,
		messagePage{Heading: title, Text: q.page.L.T("portal.ratelimited.wait", secs), Back: q.page.Href(Prefix + "signin"), BackL: q.page.L.T("portal.back")}); err != nil {
		http.Error(w, http.StatusText(http.StatusTooManyRequests), http.StatusTooManyRequests)
	}
}

// auditSubject appends one audit event about the signed-in person, done
// by that person under purpose.
func (s *Server) auditSubject(ctx context.Context, subjectID, action, purpose, result string) error {
	return s.db.Write(ctx, func(tx *sqlstore.Tx) error {
		_, err := s.audit.Append(ctx, tx, audit.Event{Actor: "subject:" + subjectID, Action: action, Purpose: purpose,
			Target: s.kr.AuditTarget("subject", subjectID), Result: result})
		return err
	})
}

// startSession ends any session the browser had and starts a subject
// session at the verification level of in: a new id at every sign-in.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, q *request, in auth.SubjectSignIn) error {
	if q.sess != nil {
		if err := s.sessions.End(r.Context(), q.sess); err != nil {
			return err
		}
	}
	token, err := s.sessions.Create(r.Context(), auth.NewSession{Kind: auth.SessionSubject, Principal: in.SubjectID, Level: in.Level})
	if err != nil {
		return err
	}
	web.SetSessionCookie(w, token)
	return nil
}

// gone ends the session of a person who no longer exists (their account
// was erased while they were signed in) and sends the browser to the
// sign-in page.
func (s *Server) gone(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.sessions.End(r.Context(), q.sess); err != nil {
		return err
	}
	web.ClearSessionCookie(w)
	s.redirect(w, r, Prefix+"signin")
	return nil
}
