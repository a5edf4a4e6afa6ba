package main

import (
	"encoding/json"
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(201-i)*time.Millisecond)
	}
	p50, p99, worst := percentiles(d)
	if p50 != 100 || p99 != 198 || worst != 200 {
		t.Errorf("percentiles = %v, %v, %v; want 100, 198, 200", p50, p99, worst)
	}
	if p50, p99, worst := percentiles(nil); p50 != 0 || p99 != 0 || worst != 0 {
		t.Error("percentiles of nothing are not 0")
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-clients", "1, 16,64", "-ops", "3000", "-H", "x-purpose: support", "-only", "ceiling"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.clients) != 3 || cfg.clients[1] != 16 {
		t.Errorf("clients = %v", cfg.clients)
	}
	if got := cfg.headers.Get("X-Purpose"); got != "support" {
		t.Errorf("header = %q", got)
	}
	if n := cfg.perClient(64); n != 47 {
		t.Errorf("perClient(64) = %d, want 47", n)
	}
	if k := cfg.kinds(); len(k) != 1 || k[0] != kindCeiling {
		t.Errorf("kinds = %v", k)
	}
	for _, bad := range [][]string{{"-clients", "0"}, {"-clients", "a"}, {"-only", "both"}, {"-H", "novalue"}, {"extra"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

func TestAPIKeyFrom(t *testing.T) {
	if k, err := apiKeyFrom([]byte("gdprd_ak_123\n")); err != nil || k != "gdprd_ak_123" {
		t.Errorf("apiKeyFrom = %q, %v", k, err)
	}
	if _, err := apiKeyFrom([]byte("\n")); err == nil {
		t.Error("empty output accepted")
	}
}

// TestPayload checks that create bodies are realistic in size and unique.
func TestPayload(t *testing.T) {
	l := &load{token: "abcd"}
	a, emailA := l.newSubject(3, 7)
	b, emailB := l.newSubject(3, 8)
	if emailA == emailB {
		t.Error("two subjects share an e-mail address")
	}
	if len(a) < 250 || len(a) > 400 {
		t.Errorf("payload is %d bytes, want about 300", len(a))
	}
	var v struct {
		Email string                     `json:"email"`
		Data  map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Email != emailB || v.Data["contact"] == nil || v.Data["profile"] == nil {
		t.Errorf("payload %s", b)
	}
}

func TestEvaluate(t *testing.T) {
	r := &report{Clients: []int{1, 16, 64}}
	for _, c := range r.Clients {
		for _, p := range phases {
			r.Results = append(r.Results,
				result{Server: kindCeiling, Clients: c, Phase: p, Requests: 100, RPS: 1000},
				result{Server: kindGdprd, Clients: c, Phase: p, Requests: 100, RPS: 600})
		}
	}
	r.Results[len(r.Results)-1].Errors = 1 // gdprd, 64 clients, erase
	r.find(kindGdprd, 16, phaseGet).RPS = 400
	r.evaluate()
	want := []string{"PASS", "FAIL", "PASS", "PASS", "FAIL"} // throughput 1, 16; errors 1, 16, 64
	if len(r.Targets) != len(want) {
		t.Fatalf("%d targets, want %d", len(r.Targets), len(want))
	}
	for i, tg := range r.Targets {
		if tg.Verdict != want[i] {
			t.Errorf("%s at %d: %s, want %s", tg.Name, tg.Clients, tg.Verdict, want[i])
		}
	}
}
