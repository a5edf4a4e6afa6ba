package web

import (
	"context"
	"net/http"
)

// SessionCookieName is the cookie of browser sessions. The __Host- prefix
// makes browsers refuse it unless it is Secure, has Path=/ and no Domain,
// so no sibling subdomain can set or overwrite it. (Browsers treat
// http://localhost as secure, which is how tests run without TLS.)
const SessionCookieName = "__Host-gdprd-session"

// SetSessionCookie hands the browser a session token: Secure, HttpOnly
// (no script reads it), SameSite=Lax (not sent on cross-site posts) and
// without Max-Age, so it ends with the browser; the server ends it sooner.
func SetSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookieName, Value: token, Path: "/",
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// ClearSessionCookie tells the browser to forget the session cookie.
func ClearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookieName, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

type sessionKey struct{}

// WithSession loads the session named by the session cookie with load and
// puts it in the request context (SessionFrom reads it). A cookie that
// names no live session is cleared. Only browser surfaces use it: the API
// chain never reads cookies, so a browser's cookie can never authorise an
// API call.
func WithSession[S any](load func(ctx context.Context, token string) (S, error)) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := r.Cookie(SessionCookieName)
			if err == nil && c.Value != "" {
				s, err := load(r.Context(), c.Value)
				if err != nil {
					ClearSessionCookie(w)
				} else {
					r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, s))
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// SessionFrom returns the session WithSession loaded, if any.
func SessionFrom[S any](ctx context.Context) (S, bool) {
	s, ok := ctx.Value(sessionKey{}).(S)
	return s, ok
}
