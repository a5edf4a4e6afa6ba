package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/web"
)

func TestWithSession(t *testing.T) {
	load := func(ctx context.Context, token string) (string, error) {
		if token == "good" {
			return "session-of-good", nil
		}
		return "", errors.New("no session")
	}
	h := web.WithSession(load)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := web.SessionFrom[string](r.Context())
		w.Write([]byte(s))
	}))
	for _, tc := range []struct {
		cookie, body string
		cleared      bool
	}{
		{"", "", false},
		{"good", "session-of-good", false},
		{"stale", "", true},
	} {
		t.Run(tc.cookie, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			if tc.cookie != "" {
				req.AddCookie(&http.Cookie{Name: web.SessionCookieName, Value: tc.cookie})
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Body.String() != tc.body {
				t.Errorf("session %q, want %q", rec.Body.String(), tc.body)
			}
			set := rec.Header().Get("Set-Cookie")
			if cleared := strings.Contains(set, "Max-Age=0"); cleared != tc.cleared {
				t.Errorf("Set-Cookie %q: cleared %v, want %v", set, cleared, tc.cleared)
			}
		})
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	rec := httptest.NewRecorder()
	web.SetSessionCookie(rec, "tok")
	got := rec.Header().Get("Set-Cookie")
	for _, want := range []string{"__Host-gdprd-session=tok", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(got, want) {
			t.Errorf("Set-Cookie %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "Domain") {
		t.Errorf("Set-Cookie %q has a Domain", got)
	}
}

func TestSetRateLimited(t *testing.T) {
	rec := httptest.NewRecorder()
	web.SetRateLimited(rec, 1500e6, 20, 3600e9)
	h := rec.Header()
	if h.Get("Retry-After") != "2" || h.Get("RateLimit") != `"signin";r=0;t=2` || h.Get("RateLimit-Policy") != `"signin";q=20;w=3600` {
		t.Fatalf("headers %v", h)
	}
}
