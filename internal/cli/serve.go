package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gdprd/gdprd/docs"
	"github.com/gdprd/gdprd/internal/api"
	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/config"
	"github.com/gdprd/gdprd/internal/console"
	"github.com/gdprd/gdprd/internal/download"
	"github.com/gdprd/gdprd/internal/export"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/policies"
	"github.com/gdprd/gdprd/internal/portal"
	"github.com/gdprd/gdprd/internal/receipt"
	"github.com/gdprd/gdprd/internal/ui"
	"github.com/gdprd/gdprd/internal/web"
)

func runServe(ctx context.Context, env Env, args []string) error {
	cfg, _, err := parse(env, "serve", args, nil)
	if err != nil {
		return err
	}
	out := newBufferedLog(env.Stderr)
	defer out.Close()
	log := newLogger(out, cfg)
	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	defer ln.Close()
	a, err := openServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	return a.serve(ctx, env, ln, nil)
}

// listen opens the server's socket before anything else, so that a
// public URL defaulted from a ":0" address (tests, `demo --addr :0`) names
// the real port before any part of the app copies it (hand-off audience,
// receipt links, mail links).
func listen(cfg *config.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if base, ok := strings.CutSuffix(cfg.PublicURL, ":0"); ok {
		if _, port, err := net.SplitHostPort(ln.Addr().String()); err == nil {
			cfg.PublicURL = base + ":" + port
		}
	}
	return ln, nil
}

// handler is the whole HTTP surface: the API on its own mux and chain, and
// the operator endpoints.
func (a *app) handler(reg *prometheus.Registry) (http.Handler, error) {
	m := web.NewMetrics(reg)
	a.checks.metrics, a.checks.since = api.NewConsentMetrics(reg), a.now().UTC()
	srv := &api.Server{Vault: a.vault, Consent: a.consent, Widget: a.widget, APIKeys: a.apiKeys, Requests: a.dsr, Exports: a.exports,
		PublicURL: a.cfg.PublicURL, Log: a.log, Spec: docs.OpenAPI, ConsentMetrics: a.checks.metrics,
		ConsentReceipts: a.consentReceipts, Erasures: a.eraser, Webhooks: a.webhooks,
		Outbox: a.outbox, Catalog: a.catalog}
	root := http.NewServeMux()
	root.Handle(api.Prefix+"/", srv.Handler(m))
	root.Handle(export.DownloadPrefix, download.Handler(a.exports, a.log, m))
	site := ui.MustNew(ui.Options{})
	root.Handle(ui.StaticPrefix, web.Browser(a.log, m)(site.Static()))
	root.Handle(policies.Prefix, policies.New(policies.Options{Notices: a.consent, UI: site, Log: a.log}).Handler(m))
	root.Handle("GET "+receipt.JWKSPath, receipt.JWKSHandler(a.receipts.KeySet()))
	wh := a.widget.Handler(m)
	for _, p := range []string{"GET /widget.js", "GET /widget.css", "/widget/", "GET /.well-known/gpc.json"} {
		root.Handle(p, wh)
	}
	// WebAuthn needs a domain as relying party id: with a public URL
	// naming an IP address the console runs without passkeys (TOTP only).
	passkeys, err := auth.NewPasskeys(a.staff, a.cfg.PublicURL, "gdprd")
	if err != nil {
		a.log.Warn("passkeys are off: the public URL names no domain", "err", err)
		passkeys = nil
	}
	root.Handle(console.Prefix, console.New(console.Options{Staff: a.staff, Sessions: a.sessions, UI: site, Log: a.log,
		Clock: a.now, PublicURL: a.cfg.PublicURL, Requests: a.dsr, Eraser: a.eraser, Consent: a.consent, Webhooks: a.webhooks,
		Passkeys: passkeys}).Handler(m))
	if a.demoHost != nil {
		root.Handle(demoHostPrefix, web.Browser(a.log, m)(a.demoHost))
	}
	pt, err := portal.New(portal.Options{DB: a.db, Audit: a.audit, Keyring: a.keyring, Sessions: a.sessions,
		Handoff: a.handoff, Codes: a.codes, Consent: a.consent, Receipts: a.consentReceipts, Exports: a.exports,
		Vault: a.vault, Requests: a.dsr, EditableFields: a.cfg.EditableFields, UI: site, Log: a.log, Clock: a.now})
	if err != nil {
		return nil, err
	}
	root.Handle(portal.Prefix, pt.Handler(m))
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	root.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.db.Ping(ctx); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		if err := a.keysDB.Ping(ctx); err != nil {
			http.Error(w, "key store unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ready\n"))
	})
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	root.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if !a.metricsAllowed(r) {
			http.Error(w, "metrics need the operator token or a loopback client", http.StatusForbidden)
			return
		}
		metrics.ServeHTTP(w, r)
	})
	return root, nil
}

// metricsAllowed admits the bearer token when one is configured, and
// otherwise only loopback clients.
func (a *app) metricsAllowed(r *http.Request) bool {
	if a.cfg.MetricsToken != "" {
		got, ok := web.BearerToken(r)
		return ok && keys.Equal([]byte(got), []byte(a.cfg.MetricsToken))
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serve listens until ctx ends or SIGINT/SIGTERM arrives, then drains
// in-flight requests within the shutdown timeout.
func (a *app) serve(ctx context.Context, env Env, ln net.Listener, banner func(addr string)) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	if a.cfg.TLSCert != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		}}
	}
	addr := ln.Addr().String()
	var err error
	if srv.Handler, err = a.handler(reg); err != nil {
		return err
	}
	a.log.Info("gdprd listening", "addr", addr, "version", Version, "config", *a.cfg)
	if banner != nil {
		banner(addr)
	}
	if env.Ready != nil {
		env.Ready(addr)
	}
	go a.maintain(ctx)
	if a.smtp == nil {
		a.log.Warn("mail: GDPRD_SMTP_URL is not set; mail is queued and sent once a mail server is configured")
	} else {
		a.log.Info("mail: sending through " + a.smtp.String())
	}
	// The runner stops claiming when ctx ends and finishes the jobs in
	// flight; runnerDone says when, so the stores stay open until then.
	if err := a.reminders.Schedule(ctx); err != nil {
		a.log.Warn("reminders: schedule failed", "err", err)
	}
	runnerDone := make(chan struct{})
	go func() {
		defer close(runnerDone)
		if err := a.runner.Run(ctx); err != nil {
			a.log.Error("jobs: runner stopped", "err", err)
		}
	}()
	errc := make(chan error, 1)
	go func() {
		if a.cfg.TLSCert != "" {
			errc <- srv.ServeTLS(ln, a.cfg.TLSCert, a.cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		stop()
		<-runnerDone
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		<-runnerDone
		return fmt.Errorf("shutdown: %w", err)
	}
	<-runnerDone
	// Leave a signed checkpoint of everything logged and a folded WAL.
	a.maintainOnce(sctx, true)
	return nil
}
