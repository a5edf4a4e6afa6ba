package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Targets, from the issue that created bench/: every vault phase at least
// half the ceiling's throughput at the throughput client counts, and no
// errors at the error client counts.
const minRatio = 0.50

var (
	throughputClients = []int{1, 16}
	errorClients      = []int{1, 16, 64}
	vaultPhases       = []string{phaseCreate, phaseLookup, phaseGet, phaseErase}
	// ceilingPhases are the phases both servers run, in the main table.
	ceilingPhases = []string{phaseHealthz, phaseCreate, phaseLookup, phaseGet, phaseErase}
)

// Targets of the consent issue, judged at consentClients: the consent
// check over keep-alive HTTP reaches minCheckRatio of gdprd's own healthz
// in the same run (the ceiling of its HTTP stack) and minCheckRPS, with
// p99 under maxCheckP99ms; a batch of batchPairs pairs answers in under
// maxBatchP50ms. The issue says "under 20 ms" without a percentile; the
// median of the batchCalls calls is judged and the p99 shown beside it.
const (
	minCheckRatio = 0.80
	minCheckRPS   = 20_000
	maxCheckP99ms = 5.0
	maxBatchP50ms = 20.0
)

var consentClients = []int{16}

// report is everything one run measured, and its verdicts.
type report struct {
	Started time.Time `json:"started"`
	Go      string    `json:"go"`
	OS      string    `json:"os"`
	CPUs    int       `json:"cpus"`
	Clients []int     `json:"clients"`
	Only    string    `json:"only,omitempty"`
	Aborted string    `json:"aborted,omitempty"` // why the run stopped early
	Results []result  `json:"results"`
	Targets []target  `json:"targets"`
}

// target is the verdict on one target at one client count.
type target struct {
	Name    string `json:"name"`
	Clients int    `json:"clients"`
	Verdict string `json:"verdict"` // PASS, FAIL or SKIP
	Detail  string `json:"detail"`
}

// find returns the result of a phase, or nil if it was not measured.
func (r *report) find(kind string, clients int, phase string) *result {
	for i := range r.Results {
		x := &r.Results[i]
		if x.Server == kind && x.Clients == clients && x.Phase == phase {
			return x
		}
	}
	return nil
}

// ratio is gdprd's throughput as a fraction of the ceiling's.
func (r *report) ratio(clients int, phase string) (float64, bool) {
	g, c := r.find(kindGdprd, clients, phase), r.find(kindCeiling, clients, phase)
	if g == nil || c == nil || c.RPS == 0 {
		return 0, false
	}
	return g.RPS / c.RPS, true
}

// evaluate decides every target. With -only there is no ceiling to
// compare with, so only the consent targets, which compare gdprd with its
// own healthz, are judged (and those only when gdprd was measured).
func (r *report) evaluate() {
	if r.Only == "" {
		r.evaluateVault()
	}
	if r.Only != kindCeiling {
		for _, c := range consentClients {
			r.evaluateConsent(c)
		}
	}
}

// evaluateVault decides the targets of gdprd against the ceiling.
func (r *report) evaluateVault() {
	for _, c := range throughputClients {
		t := target{Name: fmt.Sprintf("throughput >= %.0f%% of ceiling, every vault phase", minRatio*100), Clients: c}
		var parts []string
		lowest, lowestPhase, missing := 2.0, "", false
		for _, p := range vaultPhases {
			x, ok := r.ratio(c, p)
			if !ok {
				missing = true
				break
			}
			parts = append(parts, fmt.Sprintf("%s %.0f%%", p, x*100))
			if x < lowest {
				lowest, lowestPhase = x, p
			}
		}
		switch {
		case missing:
			t.Verdict, t.Detail = "SKIP", r.notMeasured(c)
		case lowest >= minRatio:
			t.Verdict, t.Detail = "PASS", strings.Join(parts, ", ")
		default:
			t.Verdict, t.Detail = "FAIL", fmt.Sprintf("%s (lowest: %s)", strings.Join(parts, ", "), lowestPhase)
		}
		r.Targets = append(r.Targets, t)
	}
	for _, c := range errorClients {
		t := target{Name: "0 errors", Clients: c}
		reqs, errs, measured := 0, 0, 0
		for _, p := range phases {
			if x := r.find(kindGdprd, c, p); x != nil {
				reqs += x.Requests
				errs += x.Errors
				measured++
			}
		}
		switch {
		case measured < len(phases):
			t.Verdict, t.Detail = "SKIP", r.notMeasured(c)
		case errs == 0:
			t.Verdict, t.Detail = "PASS", fmt.Sprintf("gdprd: 0 errors in %d requests", reqs)
		default:
			t.Verdict, t.Detail = "FAIL", fmt.Sprintf("gdprd: %d errors in %d requests", errs, reqs)
		}
		r.Targets = append(r.Targets, t)
	}
}

// healthzRatio is gdprd's consent-check throughput as a fraction of its
// own healthz in the same run.
func (r *report) healthzRatio(clients int) (float64, bool) {
	c, h := r.find(kindGdprd, clients, phaseConsentCheck), r.find(kindGdprd, clients, phaseHealthz)
	if c == nil || h == nil || h.RPS == 0 {
		return 0, false
	}
	return c.RPS / h.RPS, true
}

// evaluateConsent decides the consent targets at clients. A phase that
// could not run (its set-up failed) fails its targets.
func (r *report) evaluateConsent(clients int) {
	check := r.find(kindGdprd, clients, phaseConsentCheck)
	batch := r.find(kindGdprd, clients, phaseConsentBatch)
	judge := func(name string, x *result, pass func(x *result) (bool, string)) {
		t := target{Name: name, Clients: clients}
		switch {
		case x == nil:
			t.Verdict, t.Detail = "SKIP", r.notMeasured(clients)
		case x.Requests == 0:
			t.Verdict, t.Detail = "FAIL", "not measured: "+strings.Join(x.Samples, "; ")
		default:
			ok, detail := pass(x)
			t.Verdict, t.Detail = "FAIL", detail
			if ok {
				t.Verdict = "PASS"
			}
		}
		r.Targets = append(r.Targets, t)
	}
	judge(fmt.Sprintf("consent check >= %.0f%% of gdprd healthz", minCheckRatio*100), check, func(x *result) (bool, string) {
		ratio, ok := r.healthzRatio(clients)
		if !ok {
			return false, "gdprd healthz not measured"
		}
		return ratio >= minCheckRatio, fmt.Sprintf("%.0f%% (%.0f of %.0f req/s)", ratio*100, x.RPS, r.find(kindGdprd, clients, phaseHealthz).RPS)
	})
	judge(fmt.Sprintf("consent check >= %d/s", minCheckRPS), check, func(x *result) (bool, string) {
		return x.RPS >= minCheckRPS, fmt.Sprintf("%.0f checks/s", x.RPS)
	})
	judge(fmt.Sprintf("consent check p99 < %.0f ms", maxCheckP99ms), check, func(x *result) (bool, string) {
		return x.P99ms < maxCheckP99ms, fmt.Sprintf("p99 %.2f ms", x.P99ms)
	})
	judge(fmt.Sprintf("batch check of %d pairs p50 < %.0f ms", batchPairs, maxBatchP50ms), batch, func(x *result) (bool, string) {
		return x.Errors == 0 && x.P50ms < maxBatchP50ms, fmt.Sprintf("p50 %.2f ms, p99 %.2f ms, %d errors", x.P50ms, x.P99ms, x.Errors)
	})
}

// notMeasured explains a missing measurement.
func (r *report) notMeasured(clients int) string {
	if r.Aborted != "" && slices.Contains(r.Clients, clients) {
		return "not measured (run aborted)"
	}
	return "not measured (add the client count to -clients)"
}

// print writes the table, error samples and verdicts.
func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\ngdprd vs ceiling — %d CPUs, %s, %s; req/s counts successful requests\n\n", r.CPUs, r.OS, r.Go)
	fmt.Fprintf(w, "%7s  %-7s  %11s  %13s  %6s  %19s  %19s  %14s\n",
		"clients", "phase", "gdprd req/s", "ceiling req/s", "ratio", "gdprd p50/p99 ms", "ceiling p50/p99 ms", "errors g/c")
	for _, c := range r.Clients {
		printed := false
		for _, p := range ceilingPhases {
			g, ce := r.find(kindGdprd, c, p), r.find(kindCeiling, c, p)
			if g == nil && ce == nil {
				continue
			}
			printed = true
			ratio := "-"
			if x, ok := r.ratio(c, p); ok {
				ratio = fmt.Sprintf("%.0f%%", x*100)
			}
			fmt.Fprintf(w, "%7d  %-7s  %11s  %13s  %6s  %19s  %19s  %14s\n",
				c, p, rps(g), rps(ce), ratio, lat(g), lat(ce), errCount(g)+" / "+errCount(ce))
		}
		if printed {
			fmt.Fprintln(w)
		}
	}
	r.printConsent(w)
	var samples []string
	for _, x := range r.Results {
		for _, s := range x.Samples {
			samples = append(samples, fmt.Sprintf("  %s, %d clients: %s", x.Server, x.Clients, s))
		}
	}
	if len(samples) > 0 {
		fmt.Fprintln(w, "error samples:")
		fmt.Fprintln(w, strings.Join(samples, "\n"))
		fmt.Fprintln(w)
	}
	for _, c := range r.Clients {
		var bad []string
		for _, p := range phases {
			if x := r.find(kindCeiling, c, p); x != nil && x.Errors > 0 {
				bad = append(bad, fmt.Sprintf("%s %d", p, x.Errors))
			}
		}
		if len(bad) > 0 {
			fmt.Fprintf(w, "WARN  the ceiling had errors at %d clients (%s): its figures are not a valid baseline\n", c, strings.Join(bad, ", "))
		}
	}
	for _, x := range r.Results {
		want := int64(0) // the healthz phase, first, opens the connections
		if x.Phase == phaseHealthz {
			want = int64(x.Clients)
		}
		if x.Connections > want {
			fmt.Fprintf(w, "WARN  %s opened %d connections during %s at %d %s (expected %d): keep-alive connections were closed\n",
				x.Server, x.Connections, x.Phase, x.Clients, plural(x.Clients, "client"), want)
		}
	}
	if r.Only != "" {
		fmt.Fprintf(w, "targets against the ceiling not evaluated: only %s was measured\n", r.Only)
	}
	for _, t := range r.Targets {
		fmt.Fprintf(w, "%-4s  %s at %d %s: %s\n", t.Verdict, t.Name, t.Clients, plural(t.Clients, "client"), t.Detail)
	}
	if r.Aborted != "" {
		fmt.Fprintf(w, "ABORTED  %s\n", r.Aborted)
	}
}

// printConsent writes the consent table: gdprd alone, the check compared
// with gdprd's healthz of the same run.
func (r *report) printConsent(w io.Writer) {
	var rows []string
	for _, c := range r.Clients {
		check, batch := r.find(kindGdprd, c, phaseConsentCheck), r.find(kindGdprd, c, phaseConsentBatch)
		if check == nil && batch == nil {
			continue
		}
		ratio := "-"
		if x, ok := r.healthzRatio(c); ok {
			ratio = fmt.Sprintf("%.0f%%", x*100)
		}
		rows = append(rows, fmt.Sprintf("%7d  %11s  %19s  %15s  %24s  %14s",
			c, rps(check), lat(check), ratio, lat(batch), errCount(check)+" / "+errCount(batch)))
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "consent (gdprd only: the ceiling has no consent register)\n\n")
	fmt.Fprintf(w, "%7s  %11s  %19s  %15s  %24s  %14s\n",
		"clients", "check req/s", "check p50/p99 ms", "vs gdprd healthz", fmt.Sprintf("batch×%d p50/p99 ms", batchPairs), "errors c/b")
	fmt.Fprintln(w, strings.Join(rows, "\n"))
	fmt.Fprintln(w)
}

// writeJSON saves the report as indented JSON.
func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func rps(x *result) string {
	if x == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f", x.RPS)
}

func lat(x *result) string {
	if x == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f / %.2f", x.P50ms, x.P99ms)
}

func errCount(x *result) string {
	if x == nil {
		return "-"
	}
	return fmt.Sprint(x.Errors)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
