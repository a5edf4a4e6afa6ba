package cli_test

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gdprd/gdprd/internal/sqlstore"
)

// TestConsentCheckSummary: consent checks are counted, not audited one by
// one, and the counts reach the audit log as a summary per API key and
// purpose — at the latest when the server stops.
func TestConsentCheckSummary(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, "demo", "--data", dir)
	m := regexp.MustCompile(`export GDPRD_KEY=(\S+)`).FindStringSubmatch(srv.stdout.String())
	if m == nil {
		t.Fatalf("demo printed no API key:\n%s", srv.stdout.String())
	}
	key := m[1]
	var ada struct{ ID string }
	if code := call(t, "POST", srv.base+"/api/v1/subjects/lookup", key, map[string]any{"email": "ada.lovelace@example.org"}, &ada); code != 200 {
		t.Fatalf("lookup: %d", code)
	}
	for i := 0; i < 3; i++ {
		if code := call(t, "GET", srv.base+"/api/v1/subjects/"+ada.ID+"/consents/newsletter", key, nil, nil); code != 200 {
			t.Fatalf("check: %d", code)
		}
	}
	if code := call(t, "GET", srv.base+"/api/v1/subjects/"+ada.ID+"/consents/service-delivery", key, nil, nil); code != 200 {
		t.Fatalf("check: %d", code)
	}
	srv.stop()

	db, err := sqlstore.Open(context.Background(), sqlstore.Options{URL: filepath.Join(dir, "gdprd.db"), Set: "main"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Read().QueryContext(context.Background(),
		"SELECT actor, purpose, result FROM audit_events WHERE action = 'consent.check.summary' ORDER BY purpose")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var actor, purpose, result string
		if err := rows.Scan(&actor, &purpose, &result); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(actor, "apikey:ak_") {
			t.Errorf("summary actor %q", actor)
		}
		got = append(got, purpose+" "+strings.Join(strings.Fields(result)[:2], " "))
	}
	want := []string{"newsletter allowed=0 refused=3", "service-delivery allowed=1 refused=0"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("summaries %q, want %q", got, want)
	}
	var single int
	if err := db.Read().QueryRowContext(context.Background(),
		"SELECT COUNT(*) FROM audit_events WHERE action LIKE 'consent.check%' AND action <> 'consent.check.summary'").Scan(&single); err != nil {
		t.Fatal(err)
	}
	if single != 0 {
		t.Errorf("%d single consent-check events: checks must be counted, not audited one by one", single)
	}
}
