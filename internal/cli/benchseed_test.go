package cli_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// TestBenchSeed: the hidden bench-seed command fills an empty database
// with subjects the server reads, checks and erases like any other, and
// grants the purpose to the share asked for; it refuses a database that
// holds subjects, and it is left out of the usage text.
func TestBenchSeed(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		data := dataArgs(t, e)
		mustRun(t, append([]string{"keys", "init"}, data...)...)
		key := strings.TrimSpace(mustRun(t, append([]string{"apikey", "create", "--name", "bench", "--scopes", "vault:read,vault:write,consent:read"}, data...)...))
		out := mustRun(t, append([]string{"bench-seed", "--subjects", "2500", "--purpose", "bench-newsletter", "--granted", "0.2", "--sample", "5"}, data...)...)
		var seed struct {
			Subjects, Granted int
			Sample            []string
		}
		if err := json.Unmarshal([]byte(out), &seed); err != nil {
			t.Fatalf("bench-seed printed %q: %v", out, err)
		}
		if seed.Subjects != 2500 || seed.Granted != 500 || len(seed.Sample) != 5 {
			t.Fatalf("bench-seed printed %+v, want 2500 subjects, 500 granted, 5 sampled", seed)
		}
		if code, _, errOut := run(t, append([]string{"bench-seed", "--subjects", "10"}, data...)...); code != 1 || !strings.Contains(errOut, "empty database") {
			t.Errorf("bench-seed on a seeded database: exit %d, %q", code, errOut)
		}

		srv := start(t, "serve", data...)
		api := srv.base + "/api/v1"
		var subject struct {
			ID   string
			Data map[string]map[string]string
		}
		if code := call(t, "GET", api+"/subjects/"+seed.Sample[0], key, nil, &subject); code != http.StatusOK || subject.Data["contact"]["name"] == "" {
			t.Fatalf("GET a seeded subject: %d %+v", code, subject)
		}
		// The grants are real: the stream lists exactly the granted share.
		req, _ := http.NewRequest("GET", api+"/purposes/bench-newsletter/subjects?allowed=true", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if lines := strings.Count(string(body), "\n"); resp.StatusCode != http.StatusOK || lines != 500 {
			t.Fatalf("stream of the allowed subjects: %d, %d lines, want 500", resp.StatusCode, lines)
		}
		var receipt struct {
			KeysDestroyed int `json:"keys_destroyed"`
		}
		if code := call(t, "DELETE", api+"/subjects/"+seed.Sample[1], key, nil, &receipt); code != http.StatusOK || receipt.KeysDestroyed != 3 {
			t.Fatalf("erasing a seeded subject: %d, %d keys destroyed, want 3", code, receipt.KeysDestroyed)
		}
		if code := call(t, "GET", api+"/subjects/"+seed.Sample[1], key, nil, nil); code != http.StatusNotFound {
			t.Errorf("erased seeded subject answers %d, want 404", code)
		}
	})
	if _, _, usage := run(t, "help"); strings.Contains(usage, "bench-seed") {
		t.Error("the usage text lists the hidden bench-seed command")
	}
}
