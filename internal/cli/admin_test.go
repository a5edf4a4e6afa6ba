package cli_test

import (
	"strings"
	"testing"
)

// TestAdminCreate: the link goes to stdout alone, under the public URL; a
// second account with the same address and a bad role are refused.
func TestAdminCreate(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "keys", "init", "--data", dir)
	out := mustRun(t, "admin", "create", "--data", dir, "--public-url", "https://privacy.example.com/", "--email", "Owner@Example.org", "--role", "owner")
	link := strings.TrimSpace(out)
	if !strings.HasPrefix(link, "https://privacy.example.com/console/enrol/") || strings.Count(out, "\n") != 1 || len(link) < len("https://privacy.example.com/console/enrol/")+43 {
		t.Fatalf("stdout %q: want the enrolment link alone", out)
	}
	if code, _, errOut := run(t, "admin", "create", "--data", dir, "--email", "owner@example.org", "--role", "dpo"); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("duplicate: exit %d %q", code, errOut)
	}
	for _, args := range [][]string{
		{"admin", "create", "--data", dir, "--email", "x@example.org", "--role", "root"},
		{"admin", "create", "--data", dir, "--email", "x@example.org"},
		{"admin"},
	} {
		if code, _, _ := run(t, args...); code != 2 {
			t.Errorf("gdprd %v: exit %d, want 2", args, code)
		}
	}
}
