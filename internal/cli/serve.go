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
	"github.com/gdprd/gdprd/internal/console"
	"github.com/gdprd/gdprd/internal/download"
	"github.com/gdprd/gdprd/internal/export"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/policies"
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
	a, err := openServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	return a.serve(ctx, env, nil)
}

// handler is the whole HTTP surface: the API on its own mux and chain, and
// the operator endpoints.
func (a *app) handler(reg *prometheus.Registry) http.Handler {
	m := web.NewMetrics(reg)
	srv := &api.Server{Vault: a.vault, Consent: a.consent, Widget: a.widget, APIKeys: a.apiKeys, Requests: a.dsr, Exports: a.exports,
		PublicURL: a.cfg.PublicURL, Log: a.log, Spec: docs.OpenAPI, ConsentMetrics: api.NewConsentMetrics(reg),
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
	root.Handle(console.Prefix, console.New(console.Options{Staff: a.staff, Sessions: a.sessions, UI: site, Log: a.log,
		Clock: a.now, PublicURL: a.cfg.PublicURL}).Handler(m))
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
	return root
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
func (a *app) serve(ctx context.Context, env Env, banner func(addr string)) error {
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
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Addr, err)
	}
	addr := ln.Addr().String()
	// A public URL defaulted from a ":0" address names the port only now.
	if base, ok := strings.CutSuffix(a.cfg.PublicURL, ":0"); ok {
		if _, port, err := net.SplitHostPort(addr); err == nil {
			a.cfg.PublicURL = base + ":" + port
		}
	}
	srv.Handler = a.handler(reg)
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
	a.maintainOnce(sctx)
	return nil
}
