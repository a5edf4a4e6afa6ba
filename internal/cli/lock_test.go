package cli_test

import (
	"strings"
	"testing"
)

// TestOneServerPerSQLiteDatabase: a second `gdprd serve` on the same
// SQLite database refuses to start and says why. The consent check keeps
// decisions in memory only because one process makes every write.
func TestOneServerPerSQLiteDatabase(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "keys", "init", "--data", dir)
	first := start(t, "serve", "--data", dir)
	code, _, stderr := run(t, "serve", "--data", dir, "--addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(stderr, "another gdprd serve is using") {
		t.Fatalf("second serve: exit %d, stderr %q", code, stderr)
	}
	// Tools still run beside the server.
	mustRun(t, "apikey", "create", "--data", dir, "--name", "beside", "--scopes", "vault:read")
	first.stop()
	// Once the first server has stopped, the lock is free again.
	start(t, "serve", "--data", dir).stop()
}
