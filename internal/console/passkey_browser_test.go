package console_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/ui/uitest"
)

// TestJourneyPasskey registers a passkey in headless Chromium with a
// DevTools virtual authenticator (CTAP2, internal transport, resident
// keys, user verification) and signs in with it instead of the TOTP code;
// the new pages are checked with axe (0 violations), for CSP violations
// and overflow. A browser without JavaScript is told passkeys need it and
// still signs in with the code.
func TestJourneyPasskey(t *testing.T) {
	uitest.ExecPath(t)
	dir := t.TempDir()
	gdprd(t, "keys", "init", "--data", dir)
	// WebAuthn needs a domain as relying party id: the public URL names
	// localhost, where the browser is.
	base := serve(t, dir, "--public-url", "http://localhost:0")
	link := strings.TrimSpace(gdprd(t, "admin", "create", "--data", dir, "--public-url", base, "--email", "kim@example.org", "--role", "dpo"))
	shots := filepath.Join(uitest.OutputDir(t), "console-passkey")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	const password = "seven green lanterns over the bay"
	tab := uitest.NewBrowser(t).NewTab(t)
	auth := tab.AddVirtualAuthenticator(t)
	secret := enrolInBrowser(t, tab, link, password, shots, "kim")

	// Enrolment just gave a second factor: the passkey page offers the
	// form at once.
	tab.Click(t, `.console-nav a[href="/console/passkeys"]`)
	if got := tab.Text(t, "h1"); got != "Passkeys" {
		t.Fatalf("passkeys page: %q", got)
	}
	tab.CheckPage(t, shots, "passkeys")
	tab.Fill(t, "#passkey-name", "Test laptop")
	tab.Click(t, "#passkey-register button")
	if got := tab.Text(t, ".callout"); !strings.Contains(got, "passkey was added") {
		t.Fatalf("after registering: %q (%s)", got, tab.Text(t, "main"))
	}
	if got := tab.Text(t, ".passkey-name"); got != "Test laptop" {
		t.Fatalf("listed passkey: %q", got)
	}
	if n := tab.VirtualCredentials(t, auth); n != 1 {
		t.Fatalf("the virtual authenticator holds %d credentials", n)
	}
	tab.CheckPage(t, shots, "passkeys-added")

	// Sign out, then in with the password and the passkey.
	tab.Click(t, `form[action="/console/signout"] button`)
	tab.Fill(t, "#email", "kim@example.org")
	tab.Fill(t, "#password", password)
	tab.Click(t, "main form button")
	if got := tab.Text(t, "h1"); got != "Enter your code" {
		t.Fatalf("after password: %q", got)
	}
	tab.CheckPage(t, shots, "signin-code-passkey")
	tab.Click(t, "#passkey-signin button")
	if got := tab.Text(t, "h1"); got != "Dashboard" {
		t.Fatalf("after the passkey: %q (%s)", got, tab.Text(t, "main"))
	}
	tab.Click(t, `.console-nav a[href="/console/passkeys"]`)
	if got := tab.Text(t, "main table tbody td:nth-child(3)"); got == "never" || got == "" {
		t.Fatalf("last use not recorded: %q", got)
	}

	// Without JavaScript: the page says passkeys need it, and the code
	// still works.
	plain := uitest.NewBrowser(t).NewTab(t)
	plain.DisableScripts(t)
	plain.Open(t, base+"/console/signin")
	plain.Fill(t, "#email", "kim@example.org")
	plain.Fill(t, "#password", password)
	plain.Click(t, "main form button")
	if got := plain.Text(t, "[data-passkey-nojs]"); !strings.Contains(got, "JavaScript") {
		t.Fatalf("no-JavaScript note: %q", got)
	}
	plain.Fill(t, "#code", totpCode(t, secret, time.Now().Add(30*time.Second)))
	plain.Click(t, "main form button")
	if got := plain.Text(t, "h1"); got != "Dashboard" {
		t.Fatalf("TOTP without JavaScript: %q", got)
	}
}
