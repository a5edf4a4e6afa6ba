package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Timeouts for getting servers up and down.
const (
	buildTimeout   = 5 * time.Minute
	commandTimeout = time.Minute // gdprd keys init, apikey create
	startTimeout   = time.Minute // until the server answers its health probe
	stopTimeout    = 15 * time.Second
)

// server is one running server process under test.
type server struct {
	kind    string // "gdprd" or "ceiling"
	addr    string // host:port
	apiKey  string // gdprd only
	logPath string // the server's stdout and stderr

	cmd      *exec.Cmd
	logFile  *os.File
	exited   chan struct{}
	waitErr  error // set before exited is closed
	stopOnce sync.Once
}

// baseURL is the server's root URL.
func (s *server) baseURL() string { return "http://" + s.addr }

// alive reports whether the process is still running.
func (s *server) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// exitStatus describes how the process ended.
func (s *server) exitStatus() string {
	if s.waitErr == nil {
		return "exited with status 0"
	}
	return s.waitErr.Error()
}

// stop sends SIGTERM, waits for the process to exit (killing it after
// stopTimeout) and closes its log. Only the first call does anything.
func (s *server) stop() {
	s.stopOnce.Do(s.terminate)
}

func (s *server) terminate() {
	if s.alive() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			fmt.Fprintf(os.Stderr, "bench: %s did not stop within %s after SIGTERM; killing it\n", s.kind, stopTimeout)
			s.cmd.Process.Kill()
			<-s.exited
		}
	}
	killGroup(s.cmd.Process.Pid)
	s.logFile.Close()
}

// logTail returns the last lines of the server's log, for error reports.
func (s *server) logTail(lines int) string {
	return tailFile(s.logPath, lines)
}

// tailFile returns the last lines of a file, indented.
func tailFile(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "    (no log: " + err.Error() + ")"
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	if len(all) == 1 && all[0] == "" {
		return "    (log is empty)"
	}
	return "    " + strings.Join(all, "\n    ")
}

// moduleRoot finds the directory of the main module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module: run bench from the gdprd checkout")
	}
	return filepath.Dir(gomod), nil
}

// build compiles the package pkg of the module at root into out.
func build(ctx context.Context, root, pkg, out string) error {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// serverEnv is the harness's environment without GDPRD_* variables, so
// that a developer's settings (a PostgreSQL URL, a master key file) can
// neither redirect nor touch anything outside the fresh data directory.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GDPRD_") {
			env = append(env, kv)
		}
	}
	return env
}

// spawn starts bin with args, its output going to logPath.
func spawn(kind, bin, logPath string, args ...string) (*server, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = serverEnv()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", kind, err)
	}
	s := &server{kind: kind, logPath: logPath, cmd: cmd, logFile: logFile, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

// startCeiling runs the ceiling binary on a fresh database in dir and
// waits until it serves /healthz.
func startCeiling(ctx context.Context, bin, dir string) (*server, error) {
	logPath := filepath.Join(dir, "ceiling.log")
	s, err := spawn("ceiling", bin, logPath, "-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "ceiling.db"))
	if err != nil {
		return nil, err
	}
	// The first line of the ceiling's output names the port it chose.
	deadline := time.Now().Add(startTimeout)
	for s.addr == "" {
		if line := firstLine(logPath); strings.HasPrefix(line, "listening on ") {
			s.addr = strings.TrimPrefix(line, "listening on ")
			break
		}
		if err := s.waitTick(ctx, deadline); err != nil {
			s.stop()
			return nil, err
		}
	}
	if err := s.waitHealthy(ctx, "/healthz", deadline); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// startGdprd creates a fresh data directory in dir (master key, API key)
// and serves it on a free loopback port, waiting until /readyz answers 200.
func startGdprd(ctx context.Context, bin, dir string) (*server, error) {
	return startGdprdWith(ctx, bin, dir, nil, nil)
}

// startGdprdWith is startGdprd with extra flags for every gdprd command
// (--database-url) and a hook that runs after the keys exist and before
// the server starts (seeding the database).
func startGdprdWith(ctx context.Context, bin, dir string, extra []string, beforeServe func(data, logPath string) error) (*server, error) {
	data := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "gdprd.log")
	with := func(args ...string) []string { return append(args, extra...) }
	if _, err := runCLI(ctx, bin, logPath, with("keys", "init", "--data", data)...); err != nil {
		return nil, err
	}
	out, err := runCLI(ctx, bin, logPath, with("apikey", "create", "--data", data, "--name", "bench", "--scopes", "vault:read,vault:write,consent:read,consent:write,dsr:read,dsr:write", "--rate", "0")...)
	if err != nil {
		return nil, err
	}
	key, err := apiKeyFrom(out)
	if err != nil {
		return nil, err
	}
	if beforeServe != nil {
		if err := beforeServe(data, logPath); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s, err := spawn("gdprd", bin, logPath, with("serve", "--data", data, "--addr", addr)...)
	if err != nil {
		return nil, err
	}
	s.addr = addr
	s.apiKey = key
	if err := s.waitHealthy(ctx, "/readyz", time.Now().Add(startTimeout)); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// runCLI runs one gdprd command to completion and returns its standard
// output; standard error goes to the log.
func runCLI(ctx context.Context, bin, logPath string, args ...string) ([]byte, error) {
	return runCLIFor(ctx, commandTimeout, bin, logPath, args...)
}

// runCLIFor is runCLI with its own time limit.
func runCLIFor(ctx context.Context, limit time.Duration, bin, logPath string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "+ gdprd %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = serverEnv()
	cmd.Stderr = logFile
	cmd.SysProcAttr = childAttr()
	out, err := cmd.Output()
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("no answer within %s (killed)", limit)
	}
	if err != nil {
		return nil, fmt.Errorf("gdprd %s: %w\nlog %s:\n%s", strings.Join(args[:2], " "), err, logPath, tailFile(logPath, 20))
	}
	return out, nil
}

// apiKeyFrom extracts the key that "gdprd apikey create" prints. The
// contract is the key alone on standard output; if there is more, the last
// non-empty line is taken and the discrepancy reported.
func apiKeyFrom(out []byte) (string, error) {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return "", errors.New("gdprd apikey create printed nothing on standard output; expected the API key")
	}
	key := lines[len(lines)-1]
	if len(lines) > 1 || strings.ContainsAny(key, " \t") {
		fmt.Fprintf(os.Stderr, "bench: warning: gdprd apikey create printed %d lines; expected the key alone; using the last one\n", len(lines))
	}
	return key, nil
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the server binds it; the server would then fail to start
// and the harness says so.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitHealthy polls path until it answers 200.
func (s *server) waitHealthy(ctx context.Context, path string, deadline time.Time) error {
	c := &http.Client{Timeout: time.Second}
	url := s.baseURL() + path
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := s.waitTick(ctx, deadline); err != nil {
			return fmt.Errorf("GET %s never answered 200: %w", path, err)
		}
	}
}

// waitTick sleeps briefly, failing if the process exited, ctx ended or
// the deadline passed.
func (s *server) waitTick(ctx context.Context, deadline time.Time) error {
	select {
	case <-s.exited:
		return fmt.Errorf("%s died (%s) during start-up\nlog %s:\n%s", s.kind, s.exitStatus(), s.logPath, s.logTail(20))
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(25 * time.Millisecond):
	}
	if time.Now().After(deadline) {
		return fmt.Errorf("%s not ready after %s\nlog %s:\n%s", s.kind, startTimeout, s.logPath, s.logTail(20))
	}
	return nil
}

// firstLine returns the first complete line of a file, or "".
func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	line, _, ok := strings.Cut(string(b), "\n")
	if !ok {
		return ""
	}
	return strings.TrimSpace(line)
}
