// Package console is the staff console at /console/: enrolment (password
// and TOTP), sign-in with two factors, a dashboard and staff management.
// Every route and the roles allowed on it are listed in one table
// (routes.go); the wrapper that enforces it runs before any handler, so
// a handler never decides access itself. Every page works without
// JavaScript.
//
// The second factor is a TOTP code (or a recovery code) or, for members
// who registered one, a passkey (WebAuthn). Passkeys need JavaScript (the
// browser's WebAuthn API, called from a static script); the TOTP path
// never does.
package console

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/ui"
	"github.com/gdprd/gdprd/internal/web"
	"github.com/gdprd/gdprd/internal/webhook"
)

// Prefix is where the console lives.
const Prefix = "/console/"

// FreshFor is how recent a second factor must be for sensitive actions
// (creating staff, changing roles).
const FreshFor = 5 * time.Minute

// maxForm bounds a posted form; larger bodies are refused with 413.
const maxForm = 16 << 10

// EnrolURL is the one-time enrolment link for token under base (the
// public URL, without a trailing slash).
func EnrolURL(base, token string) string { return base + Prefix + "enrol/" + url.PathEscape(token) }

// Options configure a Server.
type Options struct {
	Staff    *auth.Staff
	Sessions *auth.Sessions
	UI       *ui.UI // nil: ui.MustNew with no organisation name
	Log      *slog.Logger
	Clock    func() time.Time // time.Now when nil
	// PublicURL is the base of the enrolment links the console shows.
	PublicURL string
	// Issuer names the account in authenticator apps.
	Issuer string
	// Requests serves the request queue and request pages; nil leaves
	// them out of the dashboard and answers them 404.
	Requests *dsr.Service
	// Eraser serves the erasure approvals; nil answers them 404.
	Eraser *dsr.Eraser
	// Consent serves the purposes, notices, register and figures; nil
	// answers them 404.
	Consent *consent.Register
	// Webhooks serves the endpoints and delivery status; nil answers them
	// 404.
	Webhooks *webhook.Service
	// Passkeys serves passkey registration and sign-in; nil leaves
	// passkeys out and answers their routes 404.
	Passkeys *auth.Passkeys
}

// Server serves the console.
type Server struct {
	staff    *auth.Staff
	sessions *auth.Sessions
	ui       *ui.UI
	log      *slog.Logger
	now      func() time.Time
	base     string
	issuer   string
	requests *dsr.Service
	eraser   *dsr.Eraser
	consent  *consent.Register
	webhooks *webhook.Service
	passkeys *auth.Passkeys
}

// New returns a Server.
func New(o Options) *Server {
	s := &Server{staff: o.Staff, sessions: o.Sessions, ui: o.UI, log: o.Log, now: o.Clock, base: o.PublicURL, issuer: o.Issuer,
		requests: o.Requests, eraser: o.Eraser, consent: o.Consent, webhooks: o.Webhooks, passkeys: o.Passkeys}
	if s.ui == nil {
		s.ui = ui.MustNew(ui.Options{})
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.issuer == "" {
		s.issuer = "gdprd"
	}
	return s
}

// Handler returns the console behind the browser chain and sessions.
// Mount it at Prefix.
func (s *Server) Handler(m *web.Metrics) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.Pattern, s.guard(rt))
	}
	mux.Handle(Prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ui.RenderError(w, r, http.StatusNotFound)
	}))
	load := func(ctx context.Context, token string) (*auth.Session, error) {
		sess, err := s.sessions.Get(ctx, token)
		if err == nil && sess.Kind != auth.SessionStaff {
			return nil, auth.ErrNoSession
		}
		return sess, err
	}
	return web.Browser(s.log, m)(web.WithSession(load)(mux))
}

// request is what a handler gets besides w and r.
type request struct {
	sess   *auth.Session // nil on public routes without a session
	member *auth.StaffMember
	page   *ui.Page
	// requests reports that the request pages are served (for the
	// navigation).
	requests bool
	consent  bool // the consent pages are served
	webhooks bool // the webhook pages are served
	passkeys bool // passkeys are served
}

// actor names the signed-in member in audit events.
func (q *request) actor() string {
	if q.member == nil {
		return "anonymous"
	}
	return q.member.Actor()
}

// guard enforces a route's stage, roles and freshness, then runs it.
func (s *Server) guard(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
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
		q := &request{page: s.ui.NewPage(r), requests: s.requests != nil, consent: s.consent != nil, webhooks: s.webhooks != nil, passkeys: s.passkeys != nil}
		q.sess, _ = web.SessionFrom[*auth.Session](r.Context())
		switch rt.Stage {
		case StagePublic:
		case StagePending, StageEnrol:
			want := auth.LevelPassword
			if rt.Stage == StageEnrol {
				want = auth.LevelEnrol
			}
			if q.sess == nil || q.sess.Level != want {
				s.redirect(w, r, Prefix+"signin")
				return
			}
		case StageSignedIn:
			if q.sess == nil {
				s.redirect(w, r, Prefix+"signin")
				return
			}
			switch q.sess.Level {
			case auth.LevelPassword:
				s.redirect(w, r, Prefix+"signin/code")
				return
			case auth.LevelEnrol:
				s.redirect(w, r, Prefix+"enrol")
				return
			case auth.LevelMFA:
			default:
				s.redirect(w, r, Prefix+"signin")
				return
			}
			m, err := s.staff.Get(r.Context(), q.sess.Principal)
			if err != nil || !m.Enrolled {
				s.sessions.End(r.Context(), q.sess)
				web.ClearSessionCookie(w)
				s.redirect(w, r, Prefix+"signin")
				return
			}
			q.member = m
			if !slices.Contains(rt.Roles, m.Role) {
				// A refusal by role is a security event: audited (fail
				// closed), and nothing else happens.
				err := errcode.E(errcode.Forbidden, "not allowed for this role")
				if aerr := s.staff.Audit(r.Context(), m.Actor(), "console.forbidden", m.ID, "forbidden"); aerr != nil {
					err = aerr
				}
				s.fail(w, r, err)
				return
			}
			if rt.Fresh && !q.sess.Fresh(s.now(), FreshFor) {
				s.stepUpPrompt(w, r, q, rt.Back)
				return
			}
		}
		if err := rt.handle(s, w, r, q); err != nil {
			s.fail(w, r, err)
		}
	})
}

// fail answers an error with a translated page and the error's status.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := web.Status(err)
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "console page failed", "request_id", web.RequestID(r.Context()), "err", err)
	}
	p := s.ui.NewPage(r)
	key := "console.error.other"
	switch status {
	case http.StatusBadRequest:
		key = "console.error.invalid"
	case http.StatusForbidden:
		key = "console.error.forbidden"
	case http.StatusNotFound:
		key = "console.error.notfound"
	case http.StatusRequestEntityTooLarge:
		key = "console.error.toolarge"
	case http.StatusGone:
		key = "console.error.gone"
	case http.StatusConflict:
		key = "console.error.conflict"
	}
	p.Title = p.L.T(key + ".title")
	p.Main = messagePage{Heading: p.Title, Text: p.L.T(key + ".text"), Back: Prefix, BackL: p.L.T("console.back")}
	if err := s.ui.Render(w, status, "console/message", p); err != nil {
		http.Error(w, http.StatusText(status), status)
	}
}

type messagePage struct {
	Heading, Text, Back, BackL string
}

// render writes a console page with status.
func (s *Server) render(w http.ResponseWriter, status int, name string, q *request, title string, main any) error {
	q.page.Title = title
	q.page.Main = main
	if err := s.ui.Render(w, status, "console/"+name, q.page); err != nil {
		return errcode.Wrap(err, errcode.Internal, "render %s", name)
	}
	return nil
}

// redirect answers a form post or page with 303 See Other.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// rateLimited answers 429 with Retry-After and RateLimit headers.
func (s *Server) rateLimited(w http.ResponseWriter, q *request, rl *auth.RateLimitError) error {
	web.SetRateLimited(w, rl.RetryAfter, rl.Limit, rl.Window)
	secs := int(rl.RetryAfter.Seconds() + 0.999)
	title := q.page.L.T("console.ratelimited.title")
	return s.render(w, http.StatusTooManyRequests, "message", q, title,
		messagePage{Heading: title, Text: q.page.L.T("console.ratelimited.text", secs), Back: Prefix + "signin", BackL: q.page.L.T("console.back")})
}

// attempt describes where a sign-in comes from: the connection's address
// (a proxy's X-Forwarded-For is not trusted here).
func attempt(r *http.Request) auth.Attempt {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return auth.Attempt{IP: host}
}

// startSession sets the cookie of a new session token.
func startSession(w http.ResponseWriter, token string) { web.SetSessionCookie(w, token) }
