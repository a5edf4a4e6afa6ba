package web_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gdprd/gdprd/internal/web"
)

// newLog returns a logger writing JSON lines to the returned buffer.
func newLog() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewJSONHandler(&buf, nil)), &buf
}

func TestRecover(t *testing.T) {
	log, buf := newLog()
	h := web.Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("nil map write in vault.go:42 for sub_secret")
	}), web.WithRequestID, web.Recover(log))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/subjects/x", nil))

	if rec.Code != 500 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d, Content-Type %q; want a 500 problem", rec.Code, rec.Header().Get("Content-Type"))
	}
	var p web.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	if p.Code != "internal" || p.Status != 500 || p.Detail == "" || p.RequestID != rec.Header().Get("X-Request-Id") {
		t.Errorf("problem %+v", p)
	}
	for _, s := range []string{"nil map", "vault.go", "sub_secret"} {
		if strings.Contains(rec.Body.String(), s) {
			t.Errorf("body reveals %q: %s", s, rec.Body.String())
		}
		if !strings.Contains(buf.String(), s) {
			t.Errorf("log lacks %q: %s", s, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "handler panicked") || !strings.Contains(buf.String(), p.RequestID) {
		t.Errorf("log: %s", buf.String())
	}
}

// TestRecoverLetsAbortThrough checks that http.ErrAbortHandler, the
// deliberate way to drop a connection, is not turned into a 500.
func TestRecoverLetsAbortThrough(t *testing.T) {
	log, _ := newLog()
	h := web.Recover(log)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	rec := httptest.NewRecorder()
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler re-panicked", p)
		}
		if rec.Body.Len() != 0 {
			t.Errorf("wrote %q before aborting", rec.Body.String())
		}
	}()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
}

// TestAccessLog checks that the access log and the metrics name the route
// pattern and status, and never the raw path or query, which may carry
// identifiers.
func TestAccessLog(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/subjects/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("{}")) // implicit 200
	})
	mux.HandleFunc("POST /api/v1/subjects", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		w.WriteHeader(http.StatusTeapot) // superfluous: ignored by net/http and by the log
	})
	mux.HandleFunc("DELETE /api/v1/subjects/{id}", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /api/v1/boom/{id}", func(w http.ResponseWriter, r *http.Request) { panic("boom") })

	tests := []struct {
		name, method, target string
		wantRoute            string
		wantStatus           int
	}{
		{"identifier in path and query", "GET", "/api/v1/subjects/sub_secret?email=x@y", "GET /api/v1/subjects/{id}", 200},
		{"explicit status", "POST", "/api/v1/subjects?email=x@y", "POST /api/v1/subjects", 201},
		{"nothing written", "DELETE", "/api/v1/subjects/sub_secret?email=x@y", "DELETE /api/v1/subjects/{id}", 200},
		{"panic", "GET", "/api/v1/boom/sub_secret?email=x@y", "GET /api/v1/boom/{id}", 500},
		{"unmatched", "GET", "/nowhere/sub_secret?email=x@y", "unmatched", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, buf := newLog()
			reg := prometheus.NewRegistry()
			// The order of api.Server.Handler.
			h := web.Chain(mux, web.WithRequestID, web.AccessLog(log, web.NewMetrics(reg)), web.Recover(log), web.APIHeaders)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))

			var line struct {
				Msg       string `json:"msg"`
				Route     string `json:"route"`
				Status    int    `json:"status"`
				RequestID string `json:"request_id"`
			}
			var found bool
			for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "http" {
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("no access log line in:\n%s", buf.String())
			}
			if line.Route != tt.wantRoute || line.Status != tt.wantStatus || line.Status != rec.Code {
				t.Errorf("logged route %q status %d (sent %d), want %q %d", line.Route, line.Status, rec.Code, tt.wantRoute, tt.wantStatus)
			}
			if line.RequestID == "" || line.RequestID != rec.Header().Get("X-Request-Id") {
				t.Errorf("logged request id %q, header %q", line.RequestID, rec.Header().Get("X-Request-Id"))
			}
			var metrics strings.Builder
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				metrics.WriteString(mf.String())
			}
			if !strings.Contains(metrics.String(), tt.wantRoute) {
				t.Errorf("metrics lack the route %q: %s", tt.wantRoute, metrics.String())
			}
			for _, secret := range []string{"sub_secret", "x@y", "email="} {
				if strings.Contains(buf.String(), secret) {
					t.Errorf("log reveals %q:\n%s", secret, buf.String())
				}
				if strings.Contains(metrics.String(), secret) {
					t.Errorf("metrics reveal %q", secret)
				}
			}
		})
	}
}

func TestAPIHeaders(t *testing.T) {
	always := map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	}
	tests := []struct {
		name     string
		tls      bool
		wantHSTS bool
	}{
		{"plain HTTP gets no HSTS", false, false},
		{"HTTPS gets HSTS", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := web.APIHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNoContent)
			}))
			r := httptest.NewRequest(http.MethodGet, "/api/v1/categories", nil)
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			for k, want := range always {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if hsts := rec.Header().Get("Strict-Transport-Security"); (hsts != "") != tt.wantHSTS {
				t.Errorf("Strict-Transport-Security = %q, want set: %v", hsts, tt.wantHSTS)
			}
			if c := rec.Header().Values("Set-Cookie"); len(c) != 0 {
				t.Errorf("Set-Cookie %q", c)
			}
		})
	}
}

// TestWithRequestID checks that ids are random, in the header and the
// context alike.
func TestWithRequestID(t *testing.T) {
	hexID := regexp.MustCompile(`^[0-9a-f]{16}$`)
	seen := map[string]bool{}
	for range 100 {
		var inCtx string
		h := web.WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inCtx = web.RequestID(r.Context())
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		id := rec.Header().Get("X-Request-Id")
		if !hexID.MatchString(id) || id != inCtx {
			t.Fatalf("header %q, context %q: want the same 16 hex digits", id, inCtx)
		}
		if seen[id] {
			t.Fatalf("request id %s repeated", id)
		}
		seen[id] = true
	}
}

// TestChainOrder checks that the first middleware listed runs first.
func TestChainOrder(t *testing.T) {
	var order []string
	mw := func(name string) web.Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	h := web.Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { order = append(order, "handler") }), mw("a"), mw("b"), mw("c"))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if got := strings.Join(order, ","); got != "a,b,c,handler" {
		t.Errorf("order %s, want a,b,c,handler", got)
	}
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		header, want string
		ok           bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"Bearer ", "", false},
		{"Basic abc", "", false},
		{"", "", false},
		{"Bearerabc", "", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		got, ok := web.BearerToken(r)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: (%q, %v), want (%q, %v)", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}
