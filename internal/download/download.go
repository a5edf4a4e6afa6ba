// Package download serves the signed, single-use download links of access
// and portability packages (GET /download/{token}) on the server root: the
// link is the credential, so the route takes no API key and no session,
// and its token never reaches the access log (which logs route patterns).
package download

import (
	"errors"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/export"
	"github.com/gdprd/gdprd/internal/web"
)

// streamTimeout bounds the time a download may take, past the server's
// WriteTimeout, for large packages on slow connections.
const streamTimeout = 30 * time.Minute

// Handler returns the download surface with its middleware chain: the
// API's headers (nothing sniffed, framed or cached) and problem+json
// errors. A used or expired link is 410, an unknown or tampered one 404.
func Handler(exp *export.Exporter, log *slog.Logger, m *web.Metrics) http.Handler {
	return handler(exp, log, m, newLimiter(perSecond, burst))
}

func handler(exp *export.Exporter, log *slog.Logger, m *web.Metrics, lim *limiter) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+export.DownloadPrefix+"{token}", func(w http.ResponseWriter, r *http.Request) {
		serve(exp, log, w, r)
	})
	mux.HandleFunc(export.DownloadPrefix, func(w http.ResponseWriter, r *http.Request) {
		web.WriteError(w, r, log, errcode.E(errcode.NotFound, "no such download link"))
	})
	return web.Chain(mux, web.WithRequestID, web.AccessLog(log, m), web.Recover(log), web.APIHeaders, lim.middleware(log))
}

// The public route is rate-limited per client address (ASVS 2.4.1,
// anti-automation on expensive functions): a package costs a vault read
// and audit events, and guessing tokens costs an audit event each (256-bit
// tokens cannot be guessed; the limit keeps trying from filling the log).
const (
	perSecond   = 5
	burst       = 20
	maxClients  = 10000 // buckets kept; the oldest are dropped beyond it
	idleForget  = 10 * time.Minute
	retryAfterS = 1
)

// limiter holds one token bucket per client address, in this process
// (each replica limits on its own, like the API's per-key limits).
type limiter struct {
	mu      sync.Mutex
	rate    rate.Limit
	burst   int
	clients map[string]*client
	now     func() time.Time
}

type client struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: burst, clients: map[string]*client{}, now: time.Now}
}

// allow takes a token from addr's bucket.
func (l *limiter) allow(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	c, ok := l.clients[addr]
	if !ok {
		if len(l.clients) >= maxClients {
			for k, v := range l.clients {
				if now.Sub(v.seen) > idleForget || len(l.clients) >= maxClients {
					delete(l.clients, k)
				}
			}
		}
		c = &client{lim: rate.NewLimiter(l.rate, l.burst)}
		l.clients[addr] = c
	}
	c.seen = now
	return c.lim.AllowN(now, 1)
}

func (l *limiter) middleware(log *slog.Logger) web.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				host = r.RemoteAddr
			}
			if !l.allow(host) {
				w.Header().Set("Retry-After", strconv.Itoa(retryAfterS))
				web.WriteError(w, r, log, errcode.E(errcode.RateLimited, "too many download attempts from this address; retry after %d s", retryAfterS))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func serve(exp *export.Exporter, log *slog.Logger, w http.ResponseWriter, r *http.Request) {
	// A GET pattern also matches HEAD, which must not use the link up.
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		web.WriteError(w, r, log, errcode.E(errcode.MethodNotAllow, "download links answer GET only"))
		return
	}
	p, err := exp.Download(r.Context(), r.PathValue("token"))
	if err != nil {
		web.WriteError(w, r, log, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", p.ContentType())
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": p.Filename()}))
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Now().Add(streamTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		log.ErrorContext(r.Context(), "download: extend write deadline", "request_id", web.RequestID(r.Context()), "err", err)
	}
	w.WriteHeader(http.StatusOK)
	if err := p.Stream(w); err != nil {
		// The status is sent: abort the connection so the client sees a
		// truncated body, never an archive that looks complete.
		if r.Context().Err() == nil {
			log.ErrorContext(r.Context(), "download cut short", "request_id", web.RequestID(r.Context()), "err", err)
		}
		panic(http.ErrAbortHandler)
	}
}
