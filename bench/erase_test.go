package main

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseEraseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-erase-n", "10000, 1000000", "-erasures", "100", "-granted", "0.5", "-pg", "postgres://u@h/db"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.eraseN, []int{10000, 1000000}) || cfg.erasures != 100 || cfg.granted != 0.5 || cfg.pg == "" {
		t.Errorf("cfg = %+v", cfg)
	}
	for _, bad := range [][]string{
		{"-erase-n", "100000,10000"},             // not increasing
		{"-erase-n", "100", "-erasures", "200"},  // fewer subjects than erasures
		{"-erase-n", "10000", "-granted", "0"},   // nothing to stream
		{"-erase-n", "10000", "-granted", "1.5"}, // more than everyone
		{"-pg", "postgres://u@h/db"},             // -pg without -erase-n
		{"-erase-n", "ten"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

// TestEraseEvaluate checks the verdicts on the erasure and stream targets.
func TestEraseEvaluate(t *testing.T) {
	mk := func(engine string, n int, p50, p99, stream float64, grow int64) eraseResult {
		return eraseResult{Engine: engine, Subjects: n, Erasures: 200, EraseP50ms: p50, EraseP99ms: p99,
			StreamSeconds: stream, StreamLines: n / 4, PeakRSSBefore: 40 << 20, PeakRSSAfter: 40<<20 + grow}
	}
	tests := []struct {
		name string
		rs   []eraseResult
		want []string // p99 at each N, independence, stream time, stream memory
	}{
		{"all met", []eraseResult{mk(engineSQLite, 10000, 5, 9, 0.1, 1<<20), mk(engineSQLite, 1000000, 6, 12, 3.2, 3<<20)},
			[]string{"PASS", "PASS", "PASS", "PASS", "PASS"}},
		{"grows with N", []eraseResult{mk(engineSQLite, 10000, 5, 9, 0.1, 1<<20), mk(engineSQLite, 1000000, 40, 60, 3.2, 3<<20)},
			[]string{"PASS", "FAIL", "FAIL", "PASS", "PASS"}},
		{"slow, buffered stream", []eraseResult{mk(engineSQLite, 10000, 5, 9, 0.1, 1<<20), mk(engineSQLite, 1000000, 6, 12, 7, 90<<20)},
			[]string{"PASS", "PASS", "PASS", "FAIL", "FAIL"}},
		{"one N", []eraseResult{mk(engineSQLite, 10000, 5, 9, 0.1, 1<<20)},
			[]string{"PASS", "SKIP", "PASS", "SKIP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &eraseReport{Results: tt.rs}
			r.evaluate()
			var got []string
			for _, tg := range r.Targets {
				got = append(got, tg.Verdict)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("verdicts %v, want %v (%+v)", got, tt.want, r.Targets)
			}
			var b bytes.Buffer
			r.print(&b)
			if !strings.Contains(b.String(), "sqlite") {
				t.Errorf("report does not name the engine:\n%s", b.String())
			}
		})
	}
	// An erasure that failed fails its target whatever the latency.
	r := &eraseReport{Results: []eraseResult{{Engine: enginePostgres, Subjects: 10000, Erasures: 199, EraseP99ms: 3, EraseErrs: 1}}}
	r.evaluate()
	if r.Targets[0].Verdict != "FAIL" {
		t.Errorf("erasure with an error judged %s", r.Targets[0].Verdict)
	}
}

// TestBare runs the bare SQLite baseline on a small database: it erases
// what it seeded and streams exactly the granted ids.
func TestBare(t *testing.T) {
	res, err := runBare(t.Context(), engineSQLite, filepath.Join(t.TempDir(), "bare.db"), 500, 123, 20, 5)
	if err != nil {
		t.Fatal(err)
	}
	if res.StreamLines != 123 || res.Erasures != 20 || res.EraseP50ms <= 0 {
		t.Errorf("bare baseline = %+v, want 123 lines and 20 erasures", res)
	}
}
