// Package widget is the consent widget a host website embeds with
//
//	<script src="https://gdprd.example/widget.js" data-site="shop"></script>
//
// It shows a banner with "Accept all" and "Reject all" of equal weight and a
// "Choose" panel with one unticked switch per optional purpose, records the
// visitor's choice against an anonymous visitor id, and honours Global
// Privacy Control. Nothing is stored on the visitor's device before they
// choose: the script keeps its state in localStorage only after a choice,
// and gdprd sets no cookie at all (ePrivacy Art. 5(3)).
//
// Choices stay with the anonymous visitor until the host links the visitor
// to a subject at sign-in (Link); they are then copied into the consent
// register, where they count like any other record.
package widget

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/i18n"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/web"
)

// Notice is the notice the banner cites: its current version is what a
// visitor's choice is recorded against.
const Notice = "cookie-policy"

// MaxBody bounds a widget post: a choice for every purpose plus a TC or
// GPP string fits in a few kilobytes.
const MaxBody = 16 << 10

// Options configure a Widget.
type Options struct {
	DB      *sqlstore.DB
	Audit   *audit.Log
	Consent *consent.Register
	Keyring *keys.Keyring
	Catalog *i18n.Catalog // nil loads the embedded catalogs
	Log     *slog.Logger
	// Origins may call the widget endpoints from a browser (CORS), e.g.
	// "https://shop.example". Requests from any other site are refused.
	Origins []string
	// GPCPurposes are the purposes a Global Privacy Control signal opts
	// out of (operator policy). Nil means every direct-marketing purpose.
	GPCPurposes []string
	// PerIPRate limits each client address on the widget endpoints
	// (requests per second, burst twice that); 0 means 20. A page view
	// costs one request and a choice one more; the limit is generous because
	// many visitors may share one address behind NAT.
	PerIPRate int
	Clock     func() time.Time
}

// Widget serves the widget's script and endpoints.
type Widget struct {
	db      *sqlstore.DB
	audit   *audit.Log
	consent *consent.Register
	kr      *keys.Keyring
	proof   *keys.DataKey
	cat     *i18n.Catalog
	log     *slog.Logger
	origins []string
	gpc     []string
	rate    int
	clock   func() time.Time

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

// New returns a Widget over o.
func New(o Options) (*Widget, error) {
	if o.DB == nil || o.Audit == nil || o.Consent == nil || o.Keyring == nil {
		return nil, errcode.E(errcode.Internal, "widget: DB, Audit, Consent and Keyring are required")
	}
	proof, err := o.Keyring.ServiceKey("widget-proof")
	if err != nil {
		return nil, err
	}
	w := &Widget{db: o.DB, audit: o.Audit, consent: o.Consent, kr: o.Keyring, proof: proof, cat: o.Catalog,
		log: o.Log, origins: slices.Clone(o.Origins), gpc: slices.Clone(o.GPCPurposes), rate: o.PerIPRate,
		clock: o.Clock, limiters: map[string]*rate.Limiter{}}
	if w.cat == nil {
		if w.cat, err = i18n.New(); err != nil {
			return nil, err
		}
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.rate <= 0 {
		w.rate = 20
	}
	if w.clock == nil {
		w.clock = time.Now
	}
	return w, nil
}

// Handler serves /widget.js, /widget.css, /widget/… and the GPC
// well-known resource, with the chain m counts requests in.
func (w *Widget) Handler(m *web.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /widget.js", w.script)
	mux.HandleFunc("GET /widget.css", w.stylesheet)
	mux.HandleFunc("GET /.well-known/gpc.json", w.gpcJSON)
	mux.Handle("GET /widget/config", w.api(w.config))
	mux.Handle("POST /widget/choices", w.api(w.choices))
	mux.Handle("OPTIONS /widget/", w.api(func(rw http.ResponseWriter, r *http.Request) error {
		rw.WriteHeader(http.StatusNoContent)
		return nil
	}))
	mux.Handle("/widget/", w.api(func(http.ResponseWriter, *http.Request) error {
		return errcode.E(errcode.NotFound, "no such widget endpoint")
	}))
	return web.Chain(mux, web.WithRequestID, web.AccessLog(w.log, m), web.Recover(w.log))
}

// api wraps a widget endpoint: CORS for the configured origins only, a
// per-address rate limit, JSON problems for every error, and the headers
// every JSON answer gets.
func (w *Widget) api(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hd := rw.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Vary", "Origin")
		err := w.allowOrigin(rw, r)
		if err == nil {
			err = w.limit(rw, r)
		}
		if err == nil {
			err = h(rw, r)
		}
		if err != nil {
			web.WriteError(rw, r, w.log, err)
		}
	})
}

// allowOrigin answers CORS for the configured origins. A browser request
// from any other site is refused outright, so a third-party page cannot
// record choices in a visitor's name. Requests without an Origin header
// (same-origin GETs, server-side calls) pass.
func (w *Widget) allowOrigin(rw http.ResponseWriter, r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" || origin == sameOrigin(r) {
		return nil
	}
	if !slices.Contains(w.origins, origin) {
		return errcode.E(errcode.Forbidden, "this site may not use the consent widget: add its origin to the widget origins setting")
	}
	h := rw.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	return nil
}

func sameOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// limit applies the per-address token bucket. The buckets live in this
// process; the table is dropped when it grows past 10,000 addresses, which
// bounds memory at the cost of briefly forgiving everyone.
func (w *Widget) limit(rw http.ResponseWriter, r *http.Request) error {
	ip := clientIP(r)
	w.mu.Lock()
	lim, ok := w.limiters[ip]
	if !ok {
		if len(w.limiters) >= 10000 {
			w.limiters = map[string]*rate.Limiter{}
		}
		lim = rate.NewLimiter(rate.Limit(w.rate), 2*w.rate)
		w.limiters[ip] = lim
	}
	w.mu.Unlock()
	if !lim.Allow() {
		rw.Header().Set("Retry-After", "1")
		return errcode.E(errcode.RateLimited, "too many widget requests from this address; retry in a second")
	}
	return nil
}

func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}
