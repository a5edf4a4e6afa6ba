package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/gdprd/gdprd/internal/audit"
	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/config"
	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/vault"
)

// app is gdprd with its stores open.
type app struct {
	cfg      *config.Config
	log      *slog.Logger
	db       *sqlstore.DB
	keysDB   *sqlstore.DB // the key store; may be db itself on PostgreSQL
	keyring  *keys.Keyring
	audit    *audit.Log
	vault    *vault.Vault
	apiKeys  *auth.APIKeys
	consent  *consent.Register
	staff    *auth.Staff
	sessions *auth.Sessions
	now      func() time.Time
}

// openApp loads the master key and opens (and migrates) both stores.
func openApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (*app, error) {
	kr, err := keys.LoadMaster(cfg.MasterKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no master key at %s: create one with `gdprd keys init --data %s` (and back it up apart from the data)", cfg.MasterKeyFile, cfg.DataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("load master key: %w", err)
	}
	a := &app{cfg: cfg, log: log, keyring: kr, now: time.Now}
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
	a.consent, err = consent.New(consent.Options{DB: a.db, Audit: a.audit, Sealer: a.vault, Targets: kr, Clock: a.now})
	if err != nil {
		a.close()
		return nil, err
	}
	return a, nil
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
}
