package cli_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestDemoHost: `gdprd demo` plays the host application too. Its page
// embeds the widget and its "Manage my privacy" links sign a hand-off
// token for the portal with the real port in the audience; the first run
// prints the console owner's enrolment link.
func TestDemoHost(t *testing.T) {
	srv := start(t, "demo", "--data", t.TempDir())
	if !regexp.MustCompile(`/console/enrol/\S+`).MatchString(srv.stdout.String()) {
		t.Errorf("demo printed no console enrolment link:\n%s", srv.stdout.String())
	}
	resp, err := http.Get(srv.base + "/demo/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `src="/widget.js"`) ||
		resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("host page: %d %v\n%s", resp.StatusCode, resp.Header, page)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(srv.base + "/demo/privacy?person=0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Path != "/privacy/handoff" {
		t.Fatalf("Manage my privacy: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The demo names localhost (a secure context for the portal's
	// __Host- cookie) on the port it listens on.
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.base, "http://"), ":")
	parts := strings.Split(loc.Query().Get("token"), ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a compact JWS", loc.Query().Get("token"))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Iss, Sub, Jti string
		Aud           any
		Exp, Iat      int64
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	aud, _ := json.Marshal(claims.Aud)
	if claims.Iss != "printfarm" || claims.Sub != "pf-user-1000" || claims.Jti == "" ||
		!strings.Contains(string(aud), "http://localhost:"+port+"/privacy") || claims.Exp-claims.Iat > 300 {
		t.Errorf("claims %+v aud %s (server %s)", claims, aud, srv.base)
	}
	for _, bad := range []string{"person=99", "person=-1", "person=x"} {
		resp, _ := noFollow.Get(srv.base + "/demo/privacy?" + bad)
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("%s: %d", bad, resp.StatusCode)
		}
	}
}
