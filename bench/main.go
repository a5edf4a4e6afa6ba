// Command bench measures gdprd against the ceiling, a bare net/http and
// SQLite server doing the same work with the same durability and nothing
// else (see bench/ceiling).
//
// For each client count it starts a fresh ceiling, drives it, stops it, then
// does the same with a fresh gdprd: never both servers under load at once.
// Each run has five phases with N concurrent keep-alive clients: healthz
// (the HTTP stack alone), create, lookup by e-mail, get by id and erase.
// Against gdprd two consent phases run before erase (the ceiling has no
// consent register): after every subject created has granted a purpose
// (set-up, not timed), consent-check asks for the consent check of each
// subject, and consent-batch sends 50 batch checks of 1,000 pairs from one
// client. It prints requests/s, p50 and p99 per phase, the ratio of gdprd
// to the ceiling (for the consent check: to gdprd's own healthz), the
// error count, and a PASS/FAIL line per target:
//
//   - every vault phase reaches at least 50% of the ceiling's throughput at
//     1 and at 16 clients;
//   - gdprd answers without error at 1, 16 and 64 clients;
//   - at 16 clients the consent check reaches 80% of gdprd's healthz and
//     20,000 checks/s with p99 under 5 ms, and a batch of 1,000 pairs
//     answers in under 20 ms (median of the 50 calls).
//
// Performance is reported, not asserted: bench exits 0 whatever the
// figures, and non-zero only when a server cannot be built or started, or
// dies during the run.
//
// Two other benchmarks replace the phases when asked for: -export N
// measures the access package (export.go), and -erase-n measures the
// erasure of one subject among N and the stream of the subjects who
// allowed a purpose, on SQLite and, with -pg, on PostgreSQL, each against
// a bare baseline of the same engine (erase.go, bare.go). None of them is
// a test: `make test` runs only the harness's own unit tests.
//
// Usage (from the module root):
//
//	go run ./bench [-clients 1,16,64] [-ops 3000] [-only ceiling] [-json out.json]
//	go run ./bench -export 20 [-fields 10000]
//	go run ./bench -erase-n 10000,1000000 [-erasures 200] [-granted 0.25] [-pg postgres://user@host/db] [-json out.json]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/textproto"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server kinds.
const (
	kindCeiling = "ceiling"
	kindGdprd   = "gdprd"
)

// config is the parsed command line.
type config struct {
	gdprdBin string
	clients  []int
	ops      int // total operations per phase, split across the clients
	n        int // operations per client per phase; overrides ops if > 0
	jsonOut  string
	only     string
	timeout  time.Duration
	tmpdir   string
	keep     bool
	headers  http.Header
	export   int // downloads of the access package; > 0 runs that benchmark instead
	fields   int // stored fields of the exported subject
	// The erasure and stream benchmark (erase.go): subject counts; set,
	// it runs instead of the load phases.
	eraseN   []int
	erasures int     // measured erasures per engine and count
	granted  float64 // share of the seeded subjects that grant the purpose
	pg       string  // a PostgreSQL server URL: also measure on PostgreSQL
}

// perClient is the number of operations each client runs per phase.
func (c config) perClient(clients int) int {
	if c.n > 0 {
		return c.n
	}
	return max(1, (c.ops+clients-1)/clients)
}

// kinds lists the servers to measure, ceiling first.
func (c config) kinds() []string {
	switch c.only {
	case kindCeiling:
		return []string{kindCeiling}
	case kindGdprd:
		return []string{kindGdprd}
	}
	return []string{kindCeiling, kindGdprd}
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	os.Exit(run(cfg))
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var cfg config
	var clients string
	hdrs := headerFlag{}
	fs.StringVar(&cfg.gdprdBin, "gdprd", "", "gdprd binary to measure (default: build ./cmd/gdprd into a temporary directory)")
	fs.StringVar(&clients, "clients", "1,16,64", "comma-separated concurrent client counts")
	fs.IntVar(&cfg.ops, "ops", 3000, "operations per phase, split evenly across the clients")
	fs.IntVar(&cfg.n, "n", 0, "operations per client per phase (overrides -ops)")
	fs.StringVar(&cfg.jsonOut, "json", "", "also write machine-readable results to this file")
	fs.StringVar(&cfg.only, "only", "", `measure only one server: "ceiling" or "gdprd" (no ratios or targets)`)
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "timeout of each request")
	fs.StringVar(&cfg.tmpdir, "tmpdir", "", "where to put the temporary binaries, databases and logs (default: the system's)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (databases and server logs)")
	fs.IntVar(&cfg.export, "export", 0, "measure the access package instead: this many downloads (then again with 4 × -fields)")
	fs.IntVar(&cfg.fields, "fields", 10000, "stored fields of the subject whose access package -export measures")
	var eraseN string
	fs.StringVar(&eraseN, "erase-n", "", "measure erasure and the consent stream instead, among these comma-separated subject counts (e.g. 10000,1000000), seeded by `gdprd bench-seed`")
	fs.IntVar(&cfg.erasures, "erasures", 200, "with -erase-n: erasures measured per engine and subject count")
	fs.Float64Var(&cfg.granted, "granted", 0.25, "with -erase-n: share of the subjects that granted the purpose the stream lists")
	fs.StringVar(&cfg.pg, "pg", "", "with -erase-n: also measure on this PostgreSQL server (postgres://…; a fresh database is created and dropped per run)")
	fs.Var(hdrs, "H", `extra "Name: value" header on every gdprd API request (repeatable)`)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	for f := range strings.SplitSeq(clients, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 || c > 999 {
			return cfg, fmt.Errorf("-clients: %q is not a client count from 1 to 999", f)
		}
		cfg.clients = append(cfg.clients, c)
	}
	for f := range strings.SplitSeq(eraseN, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < cfg.erasures+eraseWarmup || n > 100_000_000 {
			return cfg, fmt.Errorf("-erase-n: %q is not a subject count from -erasures+%d to 100,000,000", f, eraseWarmup)
		}
		if len(cfg.eraseN) > 0 && n <= cfg.eraseN[len(cfg.eraseN)-1] {
			return cfg, errors.New("-erase-n: list the subject counts in increasing order")
		}
		cfg.eraseN = append(cfg.eraseN, n)
	}
	if cfg.erasures < 1 || cfg.granted <= 0 || cfg.granted > 1 {
		return cfg, errors.New("-erasures must be positive and -granted above 0 and at most 1")
	}
	if cfg.pg != "" && len(cfg.eraseN) == 0 {
		return cfg, errors.New("-pg needs -erase-n")
	}
	if cfg.n <= 0 && cfg.ops <= 0 {
		return cfg, errors.New("-ops or -n must be positive")
	}
	if cfg.n >= 10_000_000 || cfg.ops >= 10_000_000 {
		return cfg, errors.New("-ops and -n must stay below 10,000,000 (phone numbers must stay unique)")
	}
	if cfg.export < 0 || cfg.fields < 1 || cfg.fields > 100_000 {
		return cfg, errors.New("-export must not be negative and -fields is 1 to 100,000")
	}
	if cfg.timeout <= 0 {
		return cfg, errors.New("-timeout must be positive")
	}
	switch cfg.only {
	case "", kindCeiling, kindGdprd:
	default:
		return cfg, fmt.Errorf(`-only: %q is neither "ceiling" nor "gdprd"`, cfg.only)
	}
	cfg.headers = http.Header(hdrs)
	return cfg, nil
}

// headerFlag collects repeated -H "Name: value" flags.
type headerFlag http.Header

func (h headerFlag) String() string { return "" }

func (h headerFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return fmt.Errorf("%q is not a Name: value header", s)
	}
	k := textproto.CanonicalMIMEHeaderKey(name)
	h[k] = append(h[k], strings.TrimSpace(value))
	return nil
}

// run does the whole benchmark and returns the exit code.
func run(cfg config) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir, err := os.MkdirTemp(cfg.tmpdir, "gdprd-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	keep := cfg.keep
	defer func() {
		if keep {
			fmt.Fprintf(os.Stderr, "bench: kept %s\n", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()

	if (len(cfg.eraseN) > 0 || cfg.export > 0) && cfg.only == "" {
		cfg.only = kindGdprd // those benchmarks have their own baselines, not the ceiling
	}
	bins, err := buildAll(ctx, cfg, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}

	if len(cfg.eraseN) > 0 {
		if bins[kindGdprd] == "" {
			fmt.Fprintln(os.Stderr, "bench: -erase-n measures gdprd: do not combine it with -only ceiling")
			return 2
		}
		return runErase(ctx, cfg, bins[kindGdprd], dir)
	}
	if cfg.export > 0 {
		if bins[kindGdprd] == "" {
			fmt.Fprintln(os.Stderr, "bench: -export measures gdprd: do not combine it with -only ceiling")
			return 2
		}
		return runExport(ctx, cfg, bins[kindGdprd], dir)
	}

	rep := &report{
		Started: time.Now().UTC(),
		Go:      runtime.Version(),
		OS:      runtime.GOOS + "/" + runtime.GOARCH,
		CPUs:    runtime.NumCPU(),
		Clients: cfg.clients,
		Only:    cfg.only,
	}
	fmt.Fprintf(os.Stderr, "bench: %d CPUs, %s; %s operations per phase; temporary files in %s\n",
		rep.CPUs, rep.Go, opsText(cfg), dir)

	code := 0
loop:
	for _, c := range cfg.clients {
		for _, kind := range cfg.kinds() {
			res, err := measure(ctx, cfg, kind, bins[kind], c, filepath.Join(dir, fmt.Sprintf("%s-%d", kind, c)))
			rep.Results = append(rep.Results, res...)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s at %d %s: %v\n", kind, c, plural(c, "client"), err)
				rep.Aborted = fmt.Sprintf("%s at %d %s: %s", kind, c, plural(c, "client"), firstLineOf(err.Error()))
				// Keep the logs of a failed server, not of an interrupted run.
				code, keep = 1, keep || ctx.Err() == nil
				break loop
			}
		}
	}
	rep.evaluate()
	rep.print(os.Stdout)
	if cfg.jsonOut != "" {
		if err := rep.writeJSON(cfg.jsonOut); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			code = 1
		}
	}
	return code
}

// opsText describes the operation count for the log.
func opsText(cfg config) string {
	if cfg.n > 0 {
		return fmt.Sprintf("%d × clients", cfg.n)
	}
	return fmt.Sprintf("about %d", cfg.ops)
}

// buildAll compiles the servers that will be measured and returns their
// binaries by kind.
func buildAll(ctx context.Context, cfg config, dir string) (map[string]string, error) {
	bins := map[string]string{}
	var root string
	for _, kind := range cfg.kinds() {
		if kind == kindGdprd && cfg.gdprdBin != "" {
			abs, err := filepath.Abs(cfg.gdprdBin)
			if err != nil {
				return nil, err
			}
			if _, err := os.Stat(abs); err != nil {
				return nil, fmt.Errorf("-gdprd: %w", err)
			}
			bins[kind] = abs
			continue
		}
		if root == "" {
			var err error
			if root, err = moduleRoot(ctx); err != nil {
				return nil, err
			}
		}
		pkg := "./bench/ceiling"
		if kind == kindGdprd {
			pkg = "./cmd/gdprd"
		}
		bin := filepath.Join(dir, kind)
		fmt.Fprintf(os.Stderr, "bench: building %s\n", pkg)
		if err := build(ctx, root, pkg, bin); err != nil {
			if kind == kindGdprd {
				err = fmt.Errorf("%w\n(-only ceiling measures the ceiling alone)", err)
			}
			return nil, err
		}
		bins[kind] = bin
	}
	return bins, nil
}

// measure starts a fresh server of the given kind in dir, runs every phase
// against it with the given number of clients, and stops it. An error
// means the server could not start or died; the results gathered before
// are returned with it.
func measure(ctx context.Context, cfg config, kind, bin string, clients int, dir string) ([]result, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var srv *server
	var err error
	if kind == kindGdprd {
		srv, err = startGdprd(ctx, bin, dir)
	} else {
		srv, err = startCeiling(ctx, bin, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to start: %w", err)
	}
	defer srv.stop()

	l := newLoad(srv, clients, cfg.perClient(clients), cfg.timeout, cfg.headers)
	defer l.close()
	var out []result
	var consentErr error
	for _, phase := range phasesFor(kind) {
		if phase == phaseConsentCheck {
			consentErr = prepareConsent(ctx, l, kind, clients)
		}
		if consentErr != nil && slices.Contains(consentPhases, phase) {
			if err := ctx.Err(); err != nil {
				return out, fmt.Errorf("interrupted during the consent set-up")
			}
			// Without the grants the phase would measure refusals: report
			// the set-up failure as the phase's error instead.
			out = append(out, result{Server: kind, Clients: clients, Phase: phase, Errors: 1,
				Samples: []string{"consent set-up failed: " + firstLineOf(consentErr.Error())}})
			if !srv.alive() {
				return out, fmt.Errorf("server died (%s) during the consent set-up\nlog %s:\n%s", srv.exitStatus(), srv.logPath, srv.logTail(40))
			}
			continue
		}
		r := l.run(ctx, phase)
		if err := ctx.Err(); err != nil {
			// The phase's figures are meaningless: drop them.
			return out, fmt.Errorf("interrupted during phase %s", phase)
		}
		out = append(out, r)
		fmt.Fprintf(os.Stderr, "  %-7s %3d clients  %-13s %6d requests %7.0f/s  p50 %6.2f ms  p99 %6.2f ms  %d errors  cpu/req: server %s, client %s\n",
			kind, clients, phase, r.Requests, r.RPS, r.P50ms, r.P99ms, r.Errors, perReq(r.ServerCPU, r.Requests), perReq(r.ClientCPU, r.Requests))
		for _, s := range r.Samples {
			fmt.Fprintf(os.Stderr, "      error: %s\n", s)
		}
		if !srv.alive() {
			return out, fmt.Errorf("server died (%s) during phase %s\nlog %s:\n%s", srv.exitStatus(), phase, srv.logPath, srv.logTail(40))
		}
	}
	srv.stop()
	if srv.waitErr != nil {
		fmt.Fprintf(os.Stderr, "bench: warning: %s did not exit cleanly on SIGTERM: %v; log %s\n", kind, srv.waitErr, srv.logPath)
	}
	return out, nil
}

// prepareConsent runs the consent phases' set-up on l and says how long
// it took.
func prepareConsent(ctx context.Context, l *load, kind string, clients int) error {
	start := time.Now()
	err := l.prepareConsent(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "  %-7s %3d clients  consent set-up failed: %v\n", kind, clients, err)
		return err
	}
	n := len(l.subjects())
	fmt.Fprintf(os.Stderr, "  %-7s %3d clients  consent set-up: %d grants in %.2f s (%.0f/s), not timed\n",
		kind, clients, n, time.Since(start).Seconds(), float64(n)/time.Since(start).Seconds())
	return nil
}

// perReq formats CPU seconds per request in microseconds.
func perReq(cpu float64, requests int) string {
	if requests == 0 || cpu == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f µs", cpu/float64(requests)*1e6)
}

// firstLineOf returns s up to its first newline (error messages may carry
// a server log after it).
func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
