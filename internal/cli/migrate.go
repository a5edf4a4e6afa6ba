package cli

import (
	"context"
	"fmt"

	"github.com/gdprd/gdprd/internal/sqlstore"
)

func runMigrate(ctx context.Context, env Env, args []string) error {
	cfg, _, err := parse(env, "migrate", args, nil)
	if err != nil {
		return err
	}
	for _, s := range []struct{ set, url string }{{"main", cfg.DatabaseURL}, {"keys", cfg.KeyStoreURL}} {
		db, err := sqlstore.Open(ctx, sqlstore.Options{URL: s.url, Set: s.set})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", s.set, err)
		}
		v, err := db.SchemaVersion(ctx)
		db.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s store at schema version %d\n", s.set, v)
	}
	return nil
}
