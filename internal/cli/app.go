package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/config"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/dsr"
	"github.com/gdprd/gdprd/internal/export"
	"github.com/gdprd/gdprd/internal/i18n"
	"github.com/gdprd/gdprd/internal/jobs"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/mail"
	"github.com/gdprd/gdprd/internal/receipt"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/vault"
	"github.com/gdprd/gdprd/internal/webhook"
	"github.com/gdprd/gdprd/internal/widget"
)

// app is gdprd with its stores open.
type app struct {
	cfg     *config.Config
	log     *slog.Logger
	db      *sqlstore.DB
	keysDB  *sqlstore.DB // the key store; may be db itself on PostgreSQL
	keyring *keys.Keyring
	audit   *audit.Log
	vault   *vault.Vault
	apiKeys *auth.APIKeys
	consent *consent.Register
	// receipts signs consent and erasure receipts; its public key is
	// served at /.well-known/jwks.json.
	receipts *receipt.Signer
	// consentReceipts issues signed consent receipts; eraser carries out
	// erasures with legal holds and sweeps the ones whose hold ended.
	consentReceipts *consent.Receipts
	eraser          *dsr.Eraser
	// ownsDB: this process holds the SQLite serve lock, so every write
	// to the database goes through it.
	ownsDB bool
	unlock func()
	now    func() time.Time

	catalog  *i18n.Catalog
	runner   *jobs.Runner // background work: mail, webhooks; run by serve
	outbox   *mail.Outbox // queues mail; delivers when SMTP is configured
	smtp     *mail.SMTP   // nil without GDPRD_SMTP_URL: mail stays queued
	webhooks *webhook.Service
	codes    *auth.EmailCodes // data subjects' sign-in by e-mailed code
	handoff  *auth.Handoff    // data subjects' sign-in by the host's token
	dsr      *dsr.Service
	exports  *export.Exporter
	widget   *widget.Widget
	staff    *auth.Staff
	sessions *auth.Sessions
	demoHost *demoHost    // only under `gdprd demo`
	checks   checkSummary // consent checks counted, summarised daily into the audit log
	// reminders mails the assigned staff before requests fall due; its
	// job runs on the runner, first scheduled by serve.
	reminders *dsr.Reminders
}

// openApp loads the master key and opens (and migrates) both stores, for
// a command that runs beside a server.
func openApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (*app, error) {
	return openAppAs(ctx, cfg, log, false)
}

// openServer opens the app for `serve` and `demo`. On SQLite it first
// takes the database's serve lock: one server per database file.
func openServer(ctx context.Context, cfg *config.Config, log *slog.Logger) (*app, error) {
	return openAppAs(ctx, cfg, log, true)
}

func openAppAs(ctx context.Context, cfg *config.Config, log *slog.Logger, server bool) (*app, error) {
	kr, err := keys.LoadMaster(cfg.MasterKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no master key at %s: create one with `gdprd keys init --data %s` (and back it up apart from the data)", cfg.MasterKeyFile, cfg.DataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("load master key: %w", err)
	}
	a := &app{cfg: cfg, log: log, keyring: kr, now: time.Now}
	if a.receipts, err = receipt.NewSigner(kr); err != nil {
		return nil, err
	}
	if server && !sqlstore.IsPostgresURL(cfg.DatabaseURL) {
		unlock, err := lockDatabase(cfg.DatabaseURL)
		switch {
		case err == nil:
			a.ownsDB, a.unlock = true, unlock
		case !errors.Is(err, errors.ErrUnsupported):
			return nil, err
		}
	}
	a.db, err = sqlstore.Open(ctx, sqlstore.Options{URL: cfg.DatabaseURL, Set: "main"})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	a.keysDB, err = sqlstore.Open(ctx, sqlstore.Options{URL: cfg.KeyStoreURL, Set: "keys"})
	if err != nil {
		a.db.Close()
		return nil, fmt.Errorf("open key store: %w", err)
	}
	a.audit = audit.New(audit.Options{
		Clock: a.now, Signer: kr, KeyID: keys.CheckpointKeyID(kr.CheckpointPublicKey()),
	})
	ks, err := vault.OpenKeyStore(ctx, a.keysDB, kr, a.now)
	if err != nil {
		a.close()
		return nil, err
	}
	a.vault, err = vault.New(ctx, vault.Options{
		DB: a.db, KeyStore: ks, Keyring: kr, Audit: a.audit, Clock: a.now,
		DurableReadAudit: cfg.DurableReadAudit,
	})
	if err != nil {
		a.close()
		return nil, err
	}
	a.apiKeys = auth.NewAPIKeys(a.db, kr, a.audit, a.now)
	a.staff, err = auth.NewStaff(auth.StaffOptions{DB: a.db, Keys: kr, Audit: a.audit, Clock: a.now})
	if err != nil {
		a.close()
		return nil, err
	}
	a.sessions = auth.NewSessions(a.db, kr, a.now, nil)
	// Consent decisions are cached in memory only on SQLite, where this
	// process makes every write (see lockDatabase); PostgreSQL replicas
	// each read the database.
	cache := a.db.Engine() == sqlstore.SQLite && a.ownsDB
	a.consent, err = consent.New(consent.Options{DB: a.db, Audit: a.audit, Sealer: a.vault, Targets: kr, Clock: a.now,
		CacheDecisions: cache})
	if err != nil {
		a.close()
		return nil, err
	}
	a.vault.OnSubjectChange(a.consent.Invalidate)
	a.consentReceipts, err = consent.NewReceipts(a.consent, consent.ReceiptOptions{
		Signer: a.receipts, Jurisdiction: cfg.Jurisdiction, PublicURL: cfg.PublicURL,
		Controllers: []consent.Controller{{Name: cfg.ControllerName, Email: cfg.ControllerEmail, Address: cfg.ControllerAddress}},
	})
	if err != nil {
		a.close()
		return nil, err
	}
	a.widget, err = widget.New(widget.Options{DB: a.db, Audit: a.audit, Consent: a.consent, Keyring: kr, Log: log,
		Origins: cfg.WidgetOrigins, PerIPRate: cfg.WidgetRate, Clock: a.now})
	if err != nil {
		a.close()
		return nil, err
	}
	// The calendar is UTC without public holidays until the operator's
	// jurisdiction becomes a setting.
	a.dsr, err = dsr.New(dsr.Options{DB: a.db, Audit: a.audit, Sealer: a.vault, Targets: kr, Clock: a.now})
	if err != nil {
		a.close()
		return nil, err
	}
	a.exports, err = export.New(export.Options{DB: a.db, Vault: a.vault, Consent: a.consent, Audit: a.audit,
		Keyring: kr, Info: exportInfo(cfg), Clock: a.now})
	if err != nil {
		a.close()
		return nil, err
	}
	policy, err := loadErasurePolicy(cfg.ErasurePolicyFile)
	if err != nil {
		a.close()
		return nil, err
	}
	if err := a.openBackground(cfg, log); err != nil {
		a.close()
		return nil, err
	}
	// Erasures are propagated to the webhook endpoints (Art. 19), queued
	// in the transaction that records them.
	a.eraser, err = dsr.NewEraser(ctx, dsr.ErasureOptions{DB: a.db, Audit: a.audit, Vault: a.vault, Targets: kr,
		Signer: a.receipts, Policy: policy, Notifier: a.webhooks, Requests: a.dsr, Issuer: cfg.ControllerName, Clock: a.now})
	if err != nil {
		a.close()
		return nil, fmt.Errorf("erasure policy: %w", err)
	}
	return a, nil
}

// loadErasurePolicy reads the operator's legal holds and approval list
// from a JSON file ({"holds": [...], "approval_required": ["security"]});
// without a file, dsr.DefaultErasurePolicy applies. Unknown fields are
// refused so that a misspelt hold cannot silently hold nothing.
func loadErasurePolicy(path string) (dsr.ErasurePolicy, error) {
	if path == "" {
		return dsr.DefaultErasurePolicy(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return dsr.ErasurePolicy{}, fmt.Errorf("erasure policy: %w", err)
	}
	defer f.Close()
	var p dsr.ErasurePolicy
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return dsr.ErasurePolicy{}, fmt.Errorf("erasure policy %s: %w", path, err)
	}
	return p, nil
}

// openBackground builds the job runner and what runs on it (the mail
// outbox, webhook delivery) and the data subjects' sign-in, which queues
// mail. The runner itself only runs under serve.
func (a *app) openBackground(cfg *config.Config, log *slog.Logger) error {
	var err error
	if a.catalog, err = i18n.New(); err != nil {
		return err
	}
	if a.runner, err = jobs.NewRunner(a.db, jobs.Options{Logger: log}); err != nil {
		return err
	}
	// The outbox key is derived from the master key, so every replica
	// opens what any replica queued, and mail queued before a restart
	// still goes out.
	outboxKey, err := a.keyring.ServiceKey("mail-outbox")
	if err != nil {
		return err
	}
	if cfg.SMTPURL != "" {
		if a.smtp, err = mail.NewSMTP(mail.SMTPConfig{URL: cfg.SMTPURL, From: cfg.SMTPFrom}); err != nil {
			return fmt.Errorf("GDPRD_SMTP_URL: %w", err)
		}
	}
	opts := mail.Options{Sealer: mail.NewKeySealer(outboxKey), Clock: a.now, Logger: log}
	if a.smtp != nil {
		opts.Transport = a.smtp
	}
	if a.outbox, err = mail.New(a.db, opts); err != nil {
		return err
	}
	if a.smtp != nil {
		if err := a.outbox.Register(a.runner); err != nil {
			return err
		}
	}
	if a.webhooks, err = webhook.New(webhook.Options{DB: a.db, Keyring: a.keyring, Audit: a.audit, Clock: a.now, Logger: log}); err != nil {
		return err
	}
	a.webhooks.Register(a.runner)
	if a.codes, err = auth.NewEmailCodes(auth.EmailCodeOptions{DB: a.db, Vault: a.vault, Keyring: a.keyring, Audit: a.audit,
		Outbox: a.outbox, Catalog: a.catalog, Clock: a.now}); err != nil {
		return err
	}
	a.handoff, err = auth.NewHandoff(auth.HandoffOptions{DB: a.db, Vault: a.vault, Keyring: a.keyring, Audit: a.audit,
		Audience: portalAudience(cfg), Clock: a.now})
	if err != nil {
		return err
	}
	a.reminders, err = dsr.NewReminders(dsr.ReminderOptions{DB: a.db, Audit: a.audit, Targets: a.keyring, Outbox: a.outbox,
		Catalog: a.catalog, StaffEmail: a.staffEmail, ConsoleURL: strings.TrimRight(cfg.PublicURL, "/") + "/console",
		Clock: a.now})
	if err != nil {
		return err
	}
	a.reminders.Register(a.runner)
	return nil
}

// staffEmail opens a staff member's sealed e-mail address, to mail them
// their deadline reminders.
func (a *app) staffEmail(ctx context.Context, id string) (string, error) {
	m, err := a.staff.Get(ctx, id)
	if err != nil {
		return "", err
	}
	return m.Email, nil
}

// portalAudience is the aud a hand-off token must carry: the privacy
// portal's URL.
func portalAudience(cfg *config.Config) string {
	return strings.TrimRight(cfg.PublicURL, "/") + "/privacy"
}

func (a *app) close() {
	if a.vault != nil {
		a.vault.Close()
	}
	if a.keysDB != nil {
		a.keysDB.Close()
	}
	if a.db != nil {
		a.db.Close()
	}
	if a.unlock != nil {
		a.unlock()
	}
}
