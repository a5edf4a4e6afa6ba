package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/gdprd/gdprd/internal/cli"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// syncBuffer collects a server's log while it runs.
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

// run calls the real Main and returns its exit status and output.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Main(context.Background(), args, cli.Env{Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := run(t, args...)
	if code != 0 {
		t.Fatalf("gdprd %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// server is a running `gdprd serve` (or demo) in this process.
type server struct {
	base   string
	log    *syncBuffer
	stdout *syncBuffer
	stop   func()
}

// start runs `gdprd <cmd> <args> --addr 127.0.0.1:0` until the test ends
// (or stop is called) and returns its base URL.
func start(t *testing.T, cmd string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{log: &syncBuffer{}, stdout: &syncBuffer{}}
	ready := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, append(append([]string{cmd}, args...), "--addr", "127.0.0.1:0"), cli.Env{
			Stdout: s.stdout, Stderr: s.log, Ready: func(addr string) { ready <- addr },
		})
	}()
	select {
	case addr := <-ready:
		s.base = "http://" + addr
	case code := <-done:
		cancel()
		t.Fatalf("gdprd %s exited %d before listening:\n%s", cmd, code, s.log.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("gdprd did not start within 30 s")
	}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("gdprd %s exited %d:\n%s", cmd, code, s.log.String())
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// call makes one API request and decodes a JSON answer into out (if not nil).
func call(t *testing.T, method, url, key string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

// dataArgs returns the flags that put a test's stores on engine e.
func dataArgs(t *testing.T, e sqlstore.Engine) []string {
	t.Helper()
	args := []string{"--data", t.TempDir()}
	if e == sqlstore.Postgres {
		args = append(args, "--database-url", sqltest.URL(t, e, "main"))
	}
	return args
}

func TestServeRefusesWithoutMasterKey(t *testing.T) {
	code, _, errOut := run(t, "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "gdprd keys init") {
		t.Fatalf("exit %d, stderr %q: want 1 and advice to run gdprd keys init", code, errOut)
	}
}

func TestKeysInitNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "keys", "init", "--data", dir)
	before, err := os.ReadFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "master.key")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key mode %v, want 0600", fi.Mode().Perm())
	}
	if code, _, errOut := run(t, "keys", "init", "--data", dir); code == 0 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("second keys init: exit %d, %q", code, errOut)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "master.key"))
	if !bytes.Equal(before, after) {
		t.Fatal("master key changed")
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"nope"}, {"keys"}, {"keys", "explode"}, {"serve", "--no-such-flag"}, {"apikey", "create", "--data", t.TempDir(), "--bad"}} {
		if code, _, _ := run(t, args...); code != 2 {
			t.Errorf("gdprd %v: exit %d, want 2", args, code)
		}
	}
	if out := mustRun(t, "version"); !strings.HasPrefix(out, "gdprd ") {
		t.Errorf("version printed %q", out)
	}
}

// TestLifecycle drives the real server through a subject's life on both
// engines, then checks the audit log with the CLI, including against an
// exported checkpoint.
func TestLifecycle(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		data := dataArgs(t, e)
		mustRun(t, append([]string{"keys", "init"}, data...)...)
		key := strings.TrimSpace(mustRun(t, append([]string{"apikey", "create", "--name", "shop", "--scopes", "vault:read,vault:write"}, data...)...))
		if !strings.HasPrefix(key, "gdprd_") || strings.Contains(key, "\n") {
			t.Fatalf("apikey create printed %q, want the key alone", key)
		}
		srv := start(t, "serve", data...)
		api := srv.base + "/api/v1"

		var created struct{ ID string }
		if code := call(t, "POST", api+"/subjects", key, map[string]any{
			"external_id": "u-1", "email": "Grace@Example.org", "phone": "+44 20 7946 0958",
			"data": map[string]any{"contact": map[string]any{"name": "Grace"}, "billing": map[string]any{"vat": "GB123"}},
		}, &created); code != 201 {
			t.Fatalf("create: %d", code)
		}
		var got map[string]any
		if code := call(t, "POST", api+"/subjects/lookup", key, map[string]any{"email": " grace@EXAMPLE.org"}, &got); code != 200 || got["id"] != created.ID {
			t.Fatalf("lookup: %d %v", code, got)
		}
		if code := call(t, "PATCH", api+"/subjects/"+created.ID, key, map[string]any{"email": "grace.h@example.org", "data": map[string]any{"contact": map[string]any{"city": "Arlington"}}}, &got); code != 200 {
			t.Fatalf("patch: %d", code)
		}
		if code := call(t, "POST", api+"/subjects/lookup", key, map[string]any{"email": "grace@example.org"}, nil); code != 404 {
			t.Fatalf("old e-mail still found: %d", code)
		}
		var contact map[string]any
		if code := call(t, "GET", api+"/subjects/"+created.ID+"/data/contact", key, nil, &contact); code != 200 || contact["name"] != "Grace" || contact["city"] != "Arlington" {
			t.Fatalf("contact after merge patch: %d %v", code, contact)
		}
		var receipt struct {
			Categories    []string `json:"categories"`
			KeysDestroyed int      `json:"keys_destroyed"`
		}
		if code := call(t, "DELETE", api+"/subjects/"+created.ID, key, nil, &receipt); code != 200 || len(receipt.Categories) != 2 || receipt.KeysDestroyed != 3 {
			t.Fatalf("erase: %d %+v", code, receipt)
		}
		var erased, never map[string]any
		codeErased := call(t, "GET", api+"/subjects/"+created.ID, key, nil, &erased)
		codeNever := call(t, "GET", api+"/subjects/sub_aaaaaaaaaaaaaaaaaaaaaaaaaa", key, nil, &never)
		delete(erased, "request_id")
		delete(never, "request_id")
		if codeErased != 404 || codeNever != 404 || fmt.Sprint(erased) != fmt.Sprint(never) {
			t.Fatalf("erased subject answers %d %v; never-existing %d %v", codeErased, erased, codeNever, never)
		}
		srv.stop()

		out := mustRun(t, append([]string{"audit", "verify"}, data...)...)
		if !strings.Contains(out, "audit log OK") {
			t.Fatalf("audit verify: %q", out)
		}
		cp := mustRun(t, append([]string{"audit", "checkpoint"}, data...)...)
		cpFile := filepath.Join(t.TempDir(), "cp.json")
		os.WriteFile(cpFile, []byte(cp), 0o600)
		mustRun(t, append([]string{"apikey", "create", "--name", "later", "--scopes", "vault:read"}, data...)...)
		if out := mustRun(t, append([]string{"audit", "verify", "--checkpoint", cpFile}, data...)...); !strings.Contains(out, "OK") {
			t.Fatalf("verify against checkpoint: %q", out)
		}
		// Truncating the log behind the exported checkpoint is detected.
		if e == sqlstore.SQLite {
			db, err := sql.Open("sqlite", filepath.Join(data[1], "gdprd.db"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("DELETE FROM audit_events WHERE seq >= (SELECT MAX(seq) - 2 FROM audit_events)"); err != nil {
				t.Fatal(err)
			}
			db.Exec("UPDATE audit_head SET seq = (SELECT MAX(seq) FROM audit_events), hash = (SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1)")
			db.Close()
			code, _, errOut := run(t, append([]string{"audit", "verify", "--checkpoint", cpFile}, data...)...)
			if code != 1 || !regexp.MustCompile(`FAILED verification at event \d+`).MatchString(errOut) {
				t.Fatalf("truncated log: exit %d, %q", code, errOut)
			}
		}
	})
}

// TestLogsHoldNoPersonalData (DP-3): canaries in every field, through
// successes and error paths; the server log must not contain any of them.
func TestLogsHoldNoPersonalData(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "keys", "init", "--data", dir)
	key := strings.TrimSpace(mustRun(t, "apikey", "create", "--data", dir, "--name", "t", "--scopes", "vault:read,vault:write", "--rate", "0"))
	srv := start(t, "serve", "--data", dir, "--log-level", "debug")
	api := srv.base + "/api/v1"
	canaries := []string{"c4n4ry0e1f", "c4n4ry7a2b", "c4n4ry99c3", "4917612345678", "c4n4ryname"}
	body := map[string]any{
		"external_id": canaries[0], "email": canaries[1] + "@example.org", "phone": "+" + canaries[3],
		"data": map[string]any{"contact": map[string]any{"name": canaries[4], "note": canaries[2]}},
	}
	var created struct{ ID string }
	if code := call(t, "POST", api+"/subjects", key, body, &created); code != 201 {
		t.Fatalf("create: %d", code)
	}
	call(t, "POST", api+"/subjects", key, body, nil)                                                         // 409
	call(t, "POST", api+"/subjects", key, map[string]any{"email": canaries[2] + "@@bad"}, nil)               // 400
	call(t, "POST", api+"/subjects/lookup", key, map[string]any{"email": canaries[1] + "@example.org"}, nil) // 200
	call(t, "POST", api+"/subjects/lookup", key, map[string]any{"email": canaries[2] + "@example.org"}, nil) // 404
	call(t, "PATCH", api+"/subjects/"+created.ID, key, map[string]any{"data": map[string]any{"contact": map[string]any{"name": canaries[2]}}}, nil)
	call(t, "DELETE", api+"/subjects/"+created.ID, key, nil, nil)
	srv.stop()
	log := srv.log.String()
	if !strings.Contains(log, `"route":"POST /api/v1/subjects"`) {
		t.Fatalf("the log does not show the requests, so the scan proves nothing:\n%s", log)
	}
	for _, c := range canaries {
		if strings.Contains(log, c) {
			t.Errorf("server log contains personal data %q", c)
		}
	}
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, "demo", "--data", dir)
	m := regexp.MustCompile(`export GDPRD_KEY=(\S+)`).FindStringSubmatch(srv.stdout.String())
	if m == nil {
		t.Fatalf("demo printed no API key:\n%s", srv.stdout.String())
	}
	var ada map[string]any
	if code := call(t, "POST", srv.base+"/api/v1/subjects/lookup", m[1], map[string]any{"email": "ada.lovelace@example.org"}, &ada); code != 200 {
		t.Fatalf("demo lookup from the README: %d", code)
	}
	data, _ := ada["data"].(map[string]any)
	if len(data) < 4 {
		t.Fatalf("demo person has %d categories, want several", len(data))
	}
	// The demo publishes the four notices and creates the optional purposes.
	for _, slug := range []string{"privacy-policy", "terms-of-use", "cookie-policy", "data-handling-policy"} {
		resp, err := http.Get(srv.base + "/policies/" + slug)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("/policies/%s: %d, want the published demo notice", slug, resp.StatusCode)
		}
	}
	var purposes struct {
		Purposes []struct{ Slug string } `json:"purposes"`
	}
	if code := call(t, "GET", srv.base+"/api/v1/purposes", m[1], nil, &purposes); code != 200 {
		t.Fatalf("purposes: %d", code)
	}
	have := map[string]bool{}
	for _, p := range purposes.Purposes {
		have[p.Slug] = true
	}
	for _, want := range []string{"service-delivery", "security", "newsletter", "product-analytics", "partner-offers"} {
		if !have[want] {
			t.Errorf("demo purposes lack %s: %v", want, purposes.Purposes)
		}
	}
	srv.stop()
	db, err := sql.Open("sqlite", filepath.Join(dir, "gdprd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	db.QueryRow("SELECT COUNT(*) FROM subjects").Scan(&n)
	if n != 50 {
		t.Fatalf("demo seeded %d people, want 50", n)
	}
	// A second start keeps the data and does not seed again.
	srv = start(t, "demo", "--data", dir)
	srv.stop()
	db.QueryRow("SELECT COUNT(*) FROM subjects").Scan(&n)
	if n != 50 {
		t.Fatalf("after restart %d people, want 50", n)
	}
}

// TestKeysRotate: after `gdprd keys rotate`, every subject is still
// readable and all data keys are wrapped by the new KEK.
func TestKeysRotate(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		data := dataArgs(t, e)
		mustRun(t, append([]string{"keys", "init"}, data...)...)
		key := strings.TrimSpace(mustRun(t, append([]string{"apikey", "create", "--name", "t", "--scopes", "vault:read,vault:write", "--rate", "0"}, data...)...))
		srv := start(t, "serve", data...)
		var ids []string
		for i := 0; i < 20; i++ {
			var c struct{ ID string }
			call(t, "POST", srv.base+"/api/v1/subjects", key, map[string]any{"external_id": fmt.Sprint("r", i), "data": map[string]any{"usage": map[string]any{"jobs": i}}}, &c)
			ids = append(ids, c.ID)
		}
		srv.stop()
		out := mustRun(t, append([]string{"keys", "rotate"}, data...)...)
		if !regexp.MustCompile(`re-wrapped [1-9]\d* data keys`).MatchString(out) {
			t.Fatalf("rotate: %q", out)
		}
		status := mustRun(t, append([]string{"keys", "status"}, data...)...)
		if strings.Count(strings.TrimSpace(status), "\n") != 0 {
			t.Fatalf("after rotation data keys are under more than one KEK:\n%s", status)
		}
		srv = start(t, "serve", data...)
		for i, id := range ids {
			var s struct {
				Data map[string]map[string]float64 `json:"data"`
			}
			if code := call(t, "GET", srv.base+"/api/v1/subjects/"+id, key, nil, &s); code != 200 || s.Data["usage"]["jobs"] != float64(i) {
				t.Fatalf("subject %d after rotation: %d %v", i, code, s.Data)
			}
		}
	})
}

func TestMigrate(t *testing.T) {
	out := mustRun(t, "migrate", "--data", t.TempDir())
	if !strings.Contains(out, "main store at schema version") || !strings.Contains(out, "keys store at schema version") {
		t.Fatalf("migrate printed %q", out)
	}
}

func TestOperatorEndpoints(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "keys", "init", "--data", dir)
	srv := start(t, "serve", "--data", dir)
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "gdprd_http_requests_total"} {
		// Hit the API once so the HTTP metrics exist.
		http.Get(srv.base + "/api/v1/openapi.json")
		resp, err := http.Get(srv.base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body lacks %q", path, resp.StatusCode, want)
		}
	}
	srv.stop()

	// With a token configured, /metrics needs it even from loopback.
	t.Setenv("GDPRD_METRICS_TOKEN", "m-token")
	srv = start(t, "serve", "--data", dir)
	resp, _ := http.Get(srv.base + "/metrics")
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("/metrics without token: %d, want 403", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", srv.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer m-token")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/metrics with token: %d, want 200", resp.StatusCode)
	}
}
