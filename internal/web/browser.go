package web

import (
	"log/slog"
	"net/http"
)

// BrowserCSP is the Content-Security-Policy of every page a browser shows:
// nothing but this origin's own stylesheets, scripts, images and fetches
// (the passkey script asks for WebAuthn options); no inline
// script or style, so an injected tag cannot run; forms post only here; no
// <base> rewriting; no framing (clickjacking).
const BrowserCSP = "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// BrowserHeaders sets the security headers of the browser surfaces. Pages
// default to Cache-Control: no-store, because signed-in pages carry
// personal data and shared caches must never keep them; handlers for
// public, versioned content (static files) override it.
//
// Referrer-Policy is same-origin: our own navigation keeps its referrer,
// other sites learn nothing of which page a person came from. (no-referrer
// would also make browsers send "Origin: null" on our own form posts.)
func BrowserHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", BrowserCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY") // for browsers that predate frame-ancestors
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// CrossOrigin refuses unsafe (non-GET/HEAD/OPTIONS) requests that a
// browser marks as coming from another site, which is what a CSRF attack
// is; same-origin form posts and non-browser clients pass.
func CrossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	return cop.Handler(next)
}

// Browser is the middleware chain of every browser surface (policies, and
// later the portal and console), kept apart from the API's chain: pages get
// a CSP and CSRF protection, the API gets bearer keys and JSON problems.
func Browser(log *slog.Logger, m *Metrics) Middleware {
	return func(next http.Handler) http.Handler {
		return Chain(next, WithRequestID, AccessLog(log, m), Recover(log), BrowserHeaders, CrossOrigin)
	}
}
