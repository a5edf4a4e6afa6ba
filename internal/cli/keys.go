package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/gdprd/gdprd/internal/keys"
)

func runKeys(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: gdprd keys init | rotate | status", errUsage)
	}
	cfg, _, err := parse(env, "keys "+args[0], args[1:], nil)
	if err != nil {
		return err
	}
	switch args[0] {
	case "init":
		err := keys.CreateMasterFile(cfg.MasterKeyFile)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("a master key already exists at %s; it is never overwritten", cfg.MasterKeyFile)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "created master key %s (mode 0600)\nBack it up apart from the data: without it nothing in the vault can be read.\n", cfg.MasterKeyFile)
		return nil
	case "rotate":
		a, err := openApp(ctx, cfg, newLogger(env.Stderr, cfg))
		if err != nil {
			return err
		}
		defer a.close()
		kek, n, err := a.vault.KeyStore().Rotate(ctx)
		if err != nil {
			return err
		}
		if err := a.vault.Audit(ctx, systemActor("security"), "keys.rotate", "kek:"+kek, "ok"); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "new key-encryption key %s; re-wrapped %d data keys\n", kek, n)
		return nil
	case "status":
		a, err := openApp(ctx, cfg, newLogger(env.Stderr, cfg))
		if err != nil {
			return err
		}
		defer a.close()
		counts, err := a.vault.KeyStore().Count(ctx)
		if err != nil {
			return err
		}
		for kek, n := range counts {
			fmt.Fprintf(env.Stdout, "%s\t%d data keys\n", kek, n)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown keys command %q", errUsage, args[0])
}
