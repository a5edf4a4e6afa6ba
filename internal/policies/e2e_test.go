package policies_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/cli"
	"github.com/gdprd/gdprd/internal/web"
)

// The notices the end-to-end tests publish: two versions of the privacy
// policy (the second a material change), a third one left as a draft, and
// the terms of use.
const (
	privacyV1 = `# Privacy Policy

Acme Printing GmbH ("we") runs the Acme cloud platform for 3D printers. This policy explains what personal data we process when you use it.

## What we collect

- Your e-mail address and name, to run your account.
- Print job metadata (file name, duration, material), to show your print history.

## How long we keep it

We keep account data while your account exists and delete it within 30 days after you close it.

## Your rights

You may ask for a copy of your data, have it corrected or erased, and object to processing. Write to [privacy@acme.example](mailto:privacy@acme.example).
`
	privacyV2 = `# Privacy Policy

Acme Printing GmbH ("we") runs the Acme cloud platform for 3D printers. This policy explains what personal data we process when you use it.

## What we collect

- Your e-mail address and name, to run your account.
- Print job metadata (file name, duration, material), to show your print history.
- Your printer's serial number and firmware version, to deliver security updates.

## How long we keep it

| Data | Kept for |
|---|---|
| Account data | while your account exists, then 30 days |
| Invoices | 10 years (German tax law, § 147 AO) |
| Printer telemetry | 12 months |

## Your rights

You may ask for a copy of your data, have it corrected or erased, and object to processing. Write to [privacy@acme.example](mailto:privacy@acme.example) or see [our supervisory authority](https://www.bfdi.bund.de/).
`
	privacyDraft = "# Privacy Policy\n\nUNPUBLISHED DRAFT TEXT\n"
	terms        = "# Terms of Use\n\nBy using the Acme cloud platform you agree to these terms.\n\n## Fair use\n\nDo not upload files you have no right to print.\n"
)

// syncBuffer collects the server's log while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mustRun runs the real gdprd Main to completion.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := cli.Main(context.Background(), args, cli.Env{Stdout: &out, Stderr: &errb}); code != 0 {
		t.Fatalf("gdprd %s: exit %d\n%s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

// startServer runs `gdprd serve` on a free port of 127.0.0.1 with fresh
// data until the test ends, publishes the notices through the API (as an
// operator or the console would), and returns the base URL.
func startServer(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	mustRun(t, "keys", "init", "--data", dir)
	key := strings.TrimSpace(mustRun(t, "apikey", "create", "--data", dir, "--name", "e2e", "--scopes", "consent:read,consent:write", "--rate", "0"))

	ctx, cancel := context.WithCancel(context.Background())
	log := &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"serve", "--data", dir, "--addr", "127.0.0.1:0"}, cli.Env{
			Stdout: io.Discard, Stderr: log, Ready: func(addr string) { ready <- addr },
		})
	}()
	var base string
	select {
	case addr := <-ready:
		base = "http://" + addr
	case code := <-done:
		cancel()
		t.Fatalf("gdprd serve exited %d before listening:\n%s", code, log.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("gdprd serve did not start within 30 s")
	}
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("gdprd serve exited %d:\n%s", code, log.String())
		}
	})

	publish := func(slug, body, effective, summary string, material, publish bool) {
		t.Helper()
		in, _ := json.Marshal(map[string]any{"body": body, "effective_at": effective, "summary": summary, "material": material})
		var v struct{ Version int }
		api(t, "POST", base+"/api/v1/notices/"+slug+"/versions", key, in, http.StatusCreated, &v)
		if publish {
			api(t, "POST", base+"/api/v1/notices/"+slug+"/versions/"+strconv.Itoa(v.Version)+"/publish", key, nil, http.StatusOK, nil)
		}
	}
	publish("privacy-policy", privacyV1, "2026-01-15", "First version.", false, true)
	publish("privacy-policy", privacyV2, "2026-03-01", "We now process printer serial numbers for security updates, and list how long we keep each kind of data.", true, true)
	publish("privacy-policy", privacyDraft, "2026-09-01", "Secret draft.", false, false)
	publish("terms-of-use", terms, "2026-01-15", "", false, true)
	return base
}

// api makes one API call and checks its status.
func api(t *testing.T, method, url, key string, body []byte, want int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServedByRealServer checks the surface as wired in `gdprd serve`:
// real register, real drafts, the static route and the headers.
func TestServedByRealServer(t *testing.T) {
	base := startServer(t)
	tests := []struct {
		path   string
		status int
		want   string
	}{
		{"/policies/", 200, "Terms of Use"},
		{"/policies", 307, ""},
		{"/policies/privacy-policy", 200, "printer's serial number"},
		{"/policies/privacy-policy/v/1", 200, "no longer in effect"},
		{"/policies/privacy-policy/diff/1..2", 200, "<ins>"},
		{"/policies/privacy-policy/v/3", 404, "Page not found"},
		{"/policies/privacy-policy/diff/2..3", 404, ""},
		{"/policies/privacy-policy/v/abc", 400, ""},
		{"/policies/privacy-policy/diff/2..1", 400, ""},
		{"/policies/cookie-policy", 404, ""},
		{"/policies/nope", 404, ""},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := client.Get(base + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if !strings.Contains(string(body), tt.want) {
				t.Errorf("body lacks %q", tt.want)
			}
			if strings.Contains(string(body), "UNPUBLISHED") || strings.Contains(string(body), "Secret draft") {
				t.Error("draft content is public")
			}
			if tt.status == 307 {
				if loc := resp.Header.Get("Location"); loc != "/policies/" {
					t.Errorf("redirect to %q, want /policies/", loc)
				}
				return // the root mux's own redirect, before our chain
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != web.BrowserCSP {
				t.Errorf("CSP %q", got)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") == "" {
				t.Error("missing nosniff or Referrer-Policy")
			}
			if len(resp.Cookies()) > 0 {
				t.Errorf("cookies set: %v", resp.Cookies())
			}
		})
	}
	t.Run("static", func(t *testing.T) {
		resp, err := http.Get(base + "/policies/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`href="(/static/app\.[0-9a-f]{16}\.css)"`).FindSubmatch(body)
		if m == nil {
			t.Fatal("no hashed stylesheet link")
		}
		css, err := http.Get(base + string(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		css.Body.Close()
		if css.StatusCode != 200 || css.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("stylesheet: status %d, Cache-Control %q", css.StatusCode, css.Header.Get("Cache-Control"))
		}
		stale, err := http.Get(base + "/static/app.0000000000000000.css")
		if err != nil {
			t.Fatal(err)
		}
		stale.Body.Close()
		if stale.StatusCode != 404 {
			t.Errorf("stale hash: status %d, want 404", stale.StatusCode)
		}
	})
}
