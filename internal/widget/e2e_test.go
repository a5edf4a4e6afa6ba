package widget_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/cli"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// syncBuffer collects the server's output while it runs.
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

// demo is a running `gdprd demo` (PrintFarm Cloud: purposes and the four
// notices published) with its API key.
type demo struct {
	base, key string
}

// startDemo runs `gdprd demo` on engine e with the given extra flags until
// the test ends.
func startDemo(t *testing.T, e sqlstore.Engine, flags ...string) *demo {
	t.Helper()
	args := []string{"demo", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}
	if e == sqlstore.Postgres {
		args = append(args, "--database-url", sqltest.URL(t, e, "main"))
	}
	args = append(args, flags...)
	ctx, cancel := context.WithCancel(context.Background())
	out, log := &syncBuffer{}, &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, args, cli.Env{Stdout: out, Stderr: log, Ready: func(addr string) { ready <- addr }})
	}()
	d := &demo{}
	select {
	case addr := <-ready:
		d.base = "http://" + addr
	case code := <-done:
		cancel()
		t.Fatalf("gdprd demo exited %d:\n%s", code, log.String())
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("gdprd demo did not start within 60 s")
	}
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("gdprd demo exited %d:\n%s", code, log.String())
		}
	})
	// The key is printed after the server is ready; wait for it.
	re := regexp.MustCompile(`export GDPRD_KEY=(\S+)`)
	for i := 0; i < 200; i++ {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			d.key = m[1]
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if d.key == "" {
		t.Fatalf("demo printed no API key:\n%s", out.String())
	}
	return d
}

// request makes one HTTP call with optional headers and returns the
// status, headers and body.
func request(t *testing.T, method, url string, body any, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data
}

func decode[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

type noticeRef struct {
	Version int
	SHA256  string
	URL     string
}

type config struct {
	Notice   noticeRef
	Notices  map[string]noticeRef
	Purposes []struct {
		Slug, Name, Description string
		GPC                     bool
	}
	GPC   bool
	Texts map[string]string
}

type choiceResult struct {
	Visitor     string          `json:"visitor"`
	Choices     map[string]bool `json:"choices"`
	GPCHonoured []string        `json:"gpc_honoured"`
}

type consentState struct {
	Consents []struct {
		Purpose string
		Allowed bool
		Record  *struct {
			Channel, Action, Source, Kind string
		}
	}
}

func TestWidgetAPI(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		d := startDemo(t, e, "--widget-origins", "https://shop.example")
		st, _, body := request(t, "GET", d.base+"/widget/config?site=shop&lang=de", nil, nil)
		if st != 200 {
			t.Fatalf("config: %d %s", st, body)
		}
		cfg := decode[config](t, body)
		var slugs []string
		gpc := map[string]bool{}
		for _, p := range cfg.Purposes {
			slugs = append(slugs, p.Slug)
			gpc[p.Slug] = p.GPC
			if p.Name == "" || p.Description == "" {
				t.Errorf("purpose %s without name or description", p.Slug)
			}
		}
		// Only optional (consent-based, not necessary) purposes; GPC covers
		// the direct-marketing ones.
		if strings.Join(slugs, ",") != "newsletter,partner-offers,product-analytics" {
			t.Fatalf("widget purposes %v", slugs)
		}
		if !gpc["newsletter"] || !gpc["partner-offers"] || gpc["product-analytics"] {
			t.Errorf("GPC coverage %v", gpc)
		}
		if cfg.Texts["accept_all"] != "Alle akzeptieren" || cfg.Notice.Version < 1 || cfg.Notice.SHA256 == "" {
			t.Errorf("config texts or notice: %+v", cfg)
		}
		nv := map[string]int{}
		for slug, n := range cfg.Notices {
			nv[slug] = n.Version
		}
		if nv["cookie-policy"] < 1 || nv["privacy-policy"] < 1 {
			t.Fatalf("config notices %v", cfg.Notices)
		}
		stale := map[string]int{"cookie-policy": nv["cookie-policy"], "privacy-policy": nv["privacy-policy"] + 7}
		post := func(in map[string]any, hdr map[string]string) (int, http.Header, []byte) {
			t.Helper()
			return request(t, "POST", d.base+"/widget/choices", in, hdr)
		}

		// A first choice: accept all, with a TC string from the operator's CMP.
		st, _, body = post(map[string]any{"site": "shop", "action": "accept-all", "notices": nv,
			"tcf": "CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA.YAAAAAAAAAAA"}, nil)
		if st != 200 {
			t.Fatalf("accept-all: %d %s", st, body)
		}
		first := decode[choiceResult](t, body)
		if !first.Choices["newsletter"] || !first.Choices["product-analytics"] || !strings.HasPrefix(first.Visitor, "vis_") {
			t.Fatalf("accept-all result %+v", first)
		}

		// Bad input: each refused with a problem, none recorded (checked
		// below through what the link carries over).
		forged := strings.Replace(first.Visitor, ".", ".A", 1)
		bad := []struct {
			name string
			in   any
			hdr  map[string]string
			want int
		}{
			{"forged visitor", map[string]any{"visitor": forged, "site": "shop", "action": "reject-all", "notices": nv}, nil, 400},
			{"made-up visitor", map[string]any{"visitor": "vis_aaaaaaaaaaaaaaaaaaaaaaaaaa.AAAA", "site": "shop", "action": "reject-all", "notices": nv}, nil, 400},
			{"stale notice", map[string]any{"visitor": first.Visitor, "site": "shop", "action": "reject-all", "notices": stale}, nil, 409},
			{"unknown purpose", map[string]any{"visitor": first.Visitor, "site": "shop", "action": "save", "notices": nv, "choices": map[string]bool{"selling-souls": true}}, nil, 400},
			{"necessary purpose", map[string]any{"visitor": first.Visitor, "site": "shop", "action": "save", "notices": nv, "choices": map[string]bool{"security": false}}, nil, 400},
			{"choices with reject-all", map[string]any{"visitor": first.Visitor, "site": "shop", "action": "reject-all", "notices": nv, "choices": map[string]bool{"newsletter": true}}, nil, 400},
			{"unknown action", map[string]any{"visitor": first.Visitor, "site": "shop", "action": "scroll", "notices": nv}, nil, 400},
			{"bad site", map[string]any{"visitor": first.Visitor, "site": "<script>", "action": "reject-all", "notices": nv}, nil, 400},
			{"bad tc string", map[string]any{"visitor": first.Visitor, "site": "shop", "action": "reject-all", "notices": nv, "tcf": "BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA"}, nil, 400},
			{"unknown field", map[string]any{"visitor": first.Visitor, "site": "shop", "action": "reject-all", "notices": nv, "admin": true}, nil, 400},
			{"oversized", []byte(`{"visitor":"` + first.Visitor + `","site":"shop","action":"reject-all","notices":{},"tcf":"` + strings.Repeat("A", 20000) + `"}`), nil, 413},
			{"foreign origin", map[string]any{"visitor": first.Visitor, "site": "shop", "action": "reject-all", "notices": nv}, map[string]string{"Origin": "https://evil.example"}, 403},
		}
		for _, b := range bad {
			t.Run(b.name, func(t *testing.T) {
				st, h, body := request(t, "POST", d.base+"/widget/choices", b.in, b.hdr)
				if st != b.want {
					t.Fatalf("status %d, want %d: %s", st, b.want, body)
				}
				if ct := h.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type %q", ct)
				}
			})
		}

		t.Run("allowed origin gets CORS", func(t *testing.T) {
			st, h, _ := request(t, "OPTIONS", d.base+"/widget/choices", nil, map[string]string{
				"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"})
			if st != 204 || h.Get("Access-Control-Allow-Origin") != "https://shop.example" {
				t.Fatalf("preflight %d, allow-origin %q", st, h.Get("Access-Control-Allow-Origin"))
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("the widget must not ask for credentials")
			}
		})

		// The same visitor changes their mind in the panel under GPC: the
		// newsletter switch is explicitly on (an act, which wins), partner
		// offers are left off and stay refused by the signal.
		st, _, body = post(map[string]any{"visitor": first.Visitor, "site": "shop", "action": "save", "notices": nv,
			"choices": map[string]bool{"newsletter": true, "product-analytics": false}}, map[string]string{"Sec-GPC": "1", "Origin": "https://shop.example"})
		if st != 200 {
			t.Fatalf("save: %d %s", st, body)
		}
		second := decode[choiceResult](t, body)
		if !second.Choices["newsletter"] || second.Choices["partner-offers"] || second.Choices["product-analytics"] {
			t.Errorf("save result %+v", second.Choices)
		}
		if strings.Join(second.GPCHonoured, ",") != "partner-offers" {
			t.Errorf("GPC honoured for %v, want partner-offers", second.GPCHonoured)
		}
		if second.Visitor != first.Visitor {
			t.Error("the visitor token changed")
		}

		// Sign-in: the host links the visitor to a subject.
		var sub struct{ ID string }
		st, _, body = request(t, "POST", d.base+"/api/v1/subjects", map[string]any{"email": "widget.visitor@example.org"},
			map[string]string{"Authorization": "Bearer " + d.key})
		if st != 201 {
			t.Fatalf("create subject: %d %s", st, body)
		}
		sub = decode[struct{ ID string }](t, body)
		auth := map[string]string{"Authorization": "Bearer " + d.key}
		st, _, body = request(t, "POST", d.base+"/api/v1/subjects/"+sub.ID+"/visitors", map[string]any{"visitor": first.Visitor}, auth)
		if st != 200 {
			t.Fatalf("link: %d %s", st, body)
		}
		st, _, body = request(t, "GET", d.base+"/api/v1/subjects/"+sub.ID+"/consents", nil, auth)
		if st != 200 {
			t.Fatalf("consents: %d %s", st, body)
		}
		state := decode[consentState](t, body)
		got := map[string]string{}
		for _, p := range state.Consents {
			if p.Record != nil {
				got[p.Purpose] = p.Record.Kind + "/" + p.Record.Action + "/" + p.Record.Channel
			}
		}
		want := map[string]string{
			"newsletter":        "grant/toggle/widget",
			"partner-offers":    "withdraw/browser-signal/widget",
			"product-analytics": "withdraw/toggle/widget",
		}
		for p, w := range want {
			if got[p] != w {
				t.Errorf("%s after link: %q, want %q (all: %v)", p, got[p], w, got)
			}
		}
		t.Run("link is idempotent and exclusive", func(t *testing.T) {
			st, _, body := request(t, "POST", d.base+"/api/v1/subjects/"+sub.ID+"/visitors", map[string]any{"visitor": first.Visitor}, auth)
			if st != 200 || !bytes.Contains(body, []byte(`"recorded":null`)) {
				t.Errorf("relink: %d %s", st, body)
			}
			_, _, body = request(t, "POST", d.base+"/api/v1/subjects", map[string]any{"email": "someone.else@example.org"}, auth)
			other := decode[struct{ ID string }](t, body)
			st, _, body = request(t, "POST", d.base+"/api/v1/subjects/"+other.ID+"/visitors", map[string]any{"visitor": first.Visitor}, auth)
			if st != 409 {
				t.Errorf("link to another subject: %d %s", st, body)
			}
			st, _, _ = request(t, "POST", d.base+"/api/v1/subjects/"+other.ID+"/visitors", map[string]any{"visitor": forged}, auth)
			if st != 400 {
				t.Errorf("link with a forged token: %d", st)
			}
		})
		t.Run("erasing the subject erases the visitor", func(t *testing.T) {
			if st, _, body := request(t, "DELETE", d.base+"/api/v1/subjects/"+sub.ID, nil, auth); st != 200 {
				t.Fatalf("erase: %d %s", st, body)
			}
			st, _, body := post(map[string]any{"visitor": first.Visitor, "site": "shop", "action": "reject-all", "notices": nv}, nil)
			if st != 400 || !bytes.Contains(body, []byte("no longer known")) {
				t.Errorf("choice by an erased visitor: %d %s", st, body)
			}
		})
	})
}

func TestWidgetStaticAndLimits(t *testing.T) {
	d := startDemo(t, sqlstore.SQLite, "--widget-origins", "https://shop.example", "--widget-rate", "2")
	st, h, body := request(t, "GET", d.base+"/widget.js", nil, nil)
	if st != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/javascript") || h.Get("ETag") == "" ||
		h.Get("Cross-Origin-Resource-Policy") != "cross-origin" || !bytes.Contains(body, []byte("gdprdConsent")) {
		t.Fatalf("widget.js: %d %v", st, h)
	}
	if st, h, _ := request(t, "GET", d.base+"/widget.js", nil, map[string]string{"If-None-Match": h.Get("ETag")}); st != 304 {
		t.Errorf("conditional GET: %d %v", st, h)
	}
	st, _, body = request(t, "GET", d.base+"/.well-known/gpc.json", nil, nil)
	if st != 200 || !bytes.Contains(body, []byte(`"gpc": true`)) {
		t.Errorf("gpc.json: %d %s", st, body)
	}
	if st, _, _ := request(t, "GET", d.base+"/widget/config?site=Shop!", nil, nil); st != 400 {
		t.Errorf("bad site: %d", st)
	}
	// The per-address limit (2/s here): a burst of 4, then 429 with Retry-After.
	limited := 0
	for i := 0; i < 40; i++ {
		st, h, _ := request(t, "GET", d.base+"/widget/config?site=shop", nil, nil)
		if st == 429 {
			limited++
			if h.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Error("40 quick requests from one address were never limited")
	}
}
