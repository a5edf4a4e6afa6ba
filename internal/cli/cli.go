// Package cli is the only place that wires gdprd together: it parses
// subcommands and flags, opens the stores and runs the server.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/gdprd/gdprd/internal/config"
)

// Env is what a command may touch of the outside world; tests replace it
// to run the real Main in-process.
type Env struct {
	Stdout, Stderr io.Writer
	// Ready, when set, is called with the listen address once the server
	// accepts connections (tests use it to find a :0 port).
	Ready func(addr string)
}

// Version is set at build time with -ldflags "-X …cli.Version=…".
var Version = "dev"

type command struct {
	name, summary string
	run           func(ctx context.Context, env Env, args []string) error
}

// hidden commands are left out of the usage text: bench-seed exists for
// the benchmark harness only (see benchseed.go).
var hidden = map[string]bool{"bench-seed": true}

func commands() []command {
	return []command{
		{"serve", "run the server", runServe},
		{"demo", "run the server with a seeded demo organisation (creates the master key if missing)", runDemo},
		{"migrate", "apply database migrations and exit", runMigrate},
		{"keys", "keys init | keys rotate | keys status", runKeys},
		{"apikey", "apikey create --name N --scopes S[,S] | apikey list | apikey revoke ID", runAPIKey},
		{"handoff", "handoff create --app N --alg hs256|eddsa [--public-key FILE] | handoff list | handoff revoke ID", runHandoff},
		{"webhook", "webhook create --url U --events E[,E] | webhook list | webhook disable ID | webhook deliveries", runWebhook},
		{"mail", "mail test --to ADDRESS: queue a test message for the running server to send", runMail},
		{"admin", "admin create --email E --role owner|dpo|support|auditor (prints a one-time enrolment link)", runAdmin},
		{"audit", "audit verify [--checkpoint FILE] | audit checkpoint", runAudit},
		{"bench-seed", "benchmark only: fill an empty database with made-up subjects", runBenchSeed},
		{"version", "print the version", func(ctx context.Context, env Env, args []string) error {
			fmt.Fprintln(env.Stdout, "gdprd", Version)
			return nil
		}},
	}
}

// errUsage marks an error in how the command was called (exit status 2).
var errUsage = errors.New("usage")

// Main runs gdprd with args (without the program name) and returns the
// process exit status.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Stdout == nil {
		env.Stdout = os.Stdout
	}
	if env.Stderr == nil {
		env.Stderr = os.Stderr
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, env, args[1:])
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				fmt.Fprintln(env.Stderr, "gdprd:", err)
				return 2
			default:
				fmt.Fprintln(env.Stderr, "gdprd:", err)
				return 1
			}
		}
	}
	fmt.Fprintf(env.Stderr, "gdprd: unknown command %q\n", args[0])
	usage(env.Stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "gdprd: the GDPR back office of an online service")
	fmt.Fprintln(w, "\nUsage: gdprd <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		if hidden[c.name] {
			continue
		}
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery flag has a GDPRD_* environment variable; run `gdprd <command> -h` for them.")
}

// parse binds the common settings plus a command's own flags and parses.
func parse(env Env, name string, args []string, extra func(fs *flag.FlagSet)) (*config.Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("gdprd "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cfg := &config.Config{}
	config.FlagSet(fs, cfg)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := cfg.Resolve(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return cfg, fs, nil
}

func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	lvl, _ := cfg.Level()
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl}))
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
