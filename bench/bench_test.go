package main

import (
	"encoding/json"
	"slices"
	"strings"
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
		for _, kind := range []string{kindCeiling, kindGdprd} {
			for _, p := range phasesFor(kind) {
				rps := 1000.0
				if kind == kindGdprd {
					rps = 600
				}
				r.Results = append(r.Results, result{Server: kind, Clients: c, Phase: p, Requests: 100, RPS: rps})
			}
		}
	}
	r.Results[len(r.Results)-1].Errors = 1 // gdprd, 64 clients, erase
	r.find(kindGdprd, 16, phaseGet).RPS = 400
	r.evaluate()
	want := []string{
		"PASS", "FAIL", // throughput 1, 16
		"PASS", "PASS", "FAIL", // errors 1, 16, 64
		"PASS", "FAIL", "PASS", "PASS", // consent at 16: 100% of healthz, 600/s, p99, batch
	}
	if len(r.Targets) != len(want) {
		t.Fatalf("%d targets, want %d", len(r.Targets), len(want))
	}
	for i, tg := range r.Targets {
		if tg.Verdict != want[i] {
			t.Errorf("%s at %d: %s, want %s", tg.Name, tg.Clients, tg.Verdict, want[i])
		}
	}
}

func TestPhasesFor(t *testing.T) {
	if got := phasesFor(kindGdprd); !slices.Equal(got, phases) {
		t.Errorf("gdprd runs %v, want every phase", got)
	}
	got := phasesFor(kindCeiling)
	want := []string{phaseHealthz, phaseCreate, phaseLookup, phaseGet, phaseErase}
	if !slices.Equal(got, want) {
		t.Errorf("ceiling runs %v, want %v", got, want)
	}
	if len(phases) != len(want)+len(consentPhases) {
		t.Errorf("phasesFor(ceiling) changed phases: %v", phases)
	}
}

// TestEvaluateConsent checks the verdicts on the consent targets at 16
// clients, judged against gdprd's own healthz.
func TestEvaluateConsent(t *testing.T) {
	type figures struct {
		healthz, check, p99, batchP50 float64
		batchErrors                   int
		setupFailed                   bool
	}
	good := figures{healthz: 25000, check: 21000, p99: 3, batchP50: 10}
	tests := []struct {
		name    string
		clients []int
		only    string
		f       figures
		want    []string // ratio, rate, p99, batch
	}{
		{"all met", []int{1, 16}, "", good, []string{"PASS", "PASS", "PASS", "PASS"}},
		{"below 80% of healthz", []int{16}, "", figures{healthz: 30000, check: 21000, p99: 3, batchP50: 10}, []string{"FAIL", "PASS", "PASS", "PASS"}},
		{"slow machine", []int{16}, "", figures{healthz: 16000, check: 15000, p99: 7, batchP50: 25}, []string{"PASS", "FAIL", "FAIL", "FAIL"}},
		{"batch errors", []int{16}, "", figures{healthz: 25000, check: 21000, p99: 3, batchP50: 10, batchErrors: 1}, []string{"PASS", "PASS", "PASS", "FAIL"}},
		{"set-up failed", []int{16}, "", figures{healthz: 25000, setupFailed: true}, []string{"FAIL", "FAIL", "FAIL", "FAIL"}},
		{"16 clients not measured", []int{1}, "", good, []string{"SKIP", "SKIP", "SKIP", "SKIP"}},
		{"only gdprd", []int{16}, kindGdprd, good, []string{"PASS", "PASS", "PASS", "PASS"}},
		{"only the ceiling", []int{16}, kindCeiling, good, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &report{Clients: tt.clients, Only: tt.only}
			for _, c := range tt.clients {
				check := result{Server: kindGdprd, Clients: c, Phase: phaseConsentCheck, Requests: 3000, RPS: tt.f.check, P99ms: tt.f.p99}
				batch := result{Server: kindGdprd, Clients: c, Phase: phaseConsentBatch, Requests: 50, P50ms: tt.f.batchP50, Errors: tt.f.batchErrors}
				if tt.f.setupFailed {
					check = result{Server: kindGdprd, Clients: c, Phase: phaseConsentCheck, Errors: 1, Samples: []string{"consent set-up failed: x"}}
					batch = result{Server: kindGdprd, Clients: c, Phase: phaseConsentBatch, Errors: 1, Samples: []string{"consent set-up failed: x"}}
				}
				r.Results = append(r.Results, check, batch,
					result{Server: kindGdprd, Clients: c, Phase: phaseHealthz, Requests: 3000, RPS: tt.f.healthz})
			}
			r.evaluate()
			var got []string
			for _, tg := range r.Targets {
				if strings.Contains(tg.Name, "consent") || strings.Contains(tg.Name, "batch") {
					if tg.Clients != 16 {
						t.Errorf("%s judged at %d clients", tg.Name, tg.Clients)
					}
					got = append(got, tg.Verdict)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("verdicts %v, want %v (targets %+v)", got, tt.want, r.Targets)
			}
		})
	}
}
