package download

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestRateLimitPerClient: past the burst a client gets 429 problems and
// never reaches the handler, while another client is still served; the
// bucket refills with time.
func TestRateLimitPerClient(t *testing.T) {
	t.Parallel()
	lim := newLimiter(1, 3)
	now := time.Unix(1_800_000_000, 0)
	lim.now = func() time.Time { return now }
	reached := 0
	h := lim.middleware(slog.New(slog.NewTextHandler(io.Discard, nil)))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
	}))
	get := func(addr string) int {
		req := httptest.NewRequest("GET", "/download/x", nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusTooManyRequests {
			if rec.Header().Get("Retry-After") == "" || rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Errorf("429 without Retry-After or problem+json: %v", rec.Header())
			}
		}
		return rec.Code
	}
	for i := range 3 {
		if c := get("192.0.2.1:1000"); c != 200 {
			t.Fatalf("request %d within the burst: %d", i, c)
		}
	}
	if c := get("192.0.2.1:2000"); c != http.StatusTooManyRequests {
		t.Errorf("past the burst (another port, same address): %d, want 429", c)
	}
	if c := get("192.0.2.2:1000"); c != 200 {
		t.Errorf("another client: %d, want 200", c)
	}
	if reached != 4 {
		t.Errorf("the handler ran %d times, want 4", reached)
	}
	now = now.Add(time.Second)
	if c := get("192.0.2.1:1000"); c != 200 {
		t.Errorf("after a second: %d, want 200", c)
	}
}
