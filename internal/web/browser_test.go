package web

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
}

func TestBrowserHeaders(t *testing.T) {
	tests := []struct {
		name string
		tls  bool
		hsts string
	}{
		{"plain http", false, ""},
		{"tls", true, "max-age=63072000; includeSubDomains"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/policies/", nil)
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			rec := httptest.NewRecorder()
			BrowserHeaders(okHandler()).ServeHTTP(rec, r)
			want := map[string]string{
				"Content-Security-Policy":   "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
				"X-Content-Type-Options":    "nosniff",
				"Referrer-Policy":           "same-origin",
				"X-Frame-Options":           "DENY",
				"Cache-Control":             "no-store",
				"Strict-Transport-Security": tt.hsts,
			}
			for k, v := range want {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestBrowserHeadersOverridable checks that a handler serving cacheable
// content can replace the no-store default.
func TestBrowserHeadersOverridable(t *testing.T) {
	h := BrowserHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/static/x", nil))
	if got := rec.Header().Get("Cache-Control"); got != "public, max-age=60" {
		t.Fatalf("Cache-Control %q", got)
	}
}

func TestCrossOrigin(t *testing.T) {
	tests := []struct {
		name, method, site, origin string
		status                     int
	}{
		{"same-origin post", "POST", "same-origin", "", 200},
		{"cross-site post", "POST", "cross-site", "", 403},
		{"same-site post from a sibling", "POST", "same-site", "", 403},
		{"cross-site get", "GET", "cross-site", "", 200},
		{"foreign origin without fetch metadata", "POST", "", "https://evil.example", 403},
		{"own origin without fetch metadata", "POST", "", "http://gdprd.test", 200},
		{"non-browser post", "POST", "", "", 200},
		{"typed url", "POST", "none", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "http://gdprd.test/privacy/x", strings.NewReader("a=b"))
			if tt.site != "" {
				r.Header.Set("Sec-Fetch-Site", tt.site)
			}
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			rec := httptest.NewRecorder()
			CrossOrigin(okHandler()).ServeHTTP(rec, r)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
		})
	}
}

// TestBrowserChain checks the assembled chain: headers on every answer
// (also on a refused request and a panic), a request id, and CSRF refusal.
func TestBrowserChain(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mux := http.NewServeMux()
	mux.Handle("/ok", okHandler())
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	h := Browser(log, nil)(mux)
	tests := []struct {
		name, method, path, site string
		status                   int
	}{
		{"page", "GET", "/ok", "", 200},
		{"csrf", "POST", "/ok", "cross-site", 403},
		{"panic", "GET", "/panic", "", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.site != "" {
				r.Header.Set("Sec-Fetch-Site", tt.site)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if rec.Header().Get("Content-Security-Policy") != BrowserCSP {
				t.Error("no CSP")
			}
			if rec.Header().Get("X-Request-Id") == "" {
				t.Error("no request id")
			}
		})
	}
}
