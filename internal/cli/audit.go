package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/gdprd/gdprd/internal/audit"
)

func runAudit(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: gdprd audit verify [--checkpoint FILE] | checkpoint", errUsage)
	}
	var cpFile string
	cfg, _, err := parse(env, "audit "+args[0], args[1:], func(fs *flag.FlagSet) {
		if args[0] == "verify" {
			fs.StringVar(&cpFile, "checkpoint", "", "a checkpoint exported earlier (JSON from `gdprd audit checkpoint`) that the log must still contain")
		}
	})
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, newLogger(env.Stderr, cfg))
	if err != nil {
		return err
	}
	defer a.close()
	switch args[0] {
	case "checkpoint":
		cp, err := a.audit.Checkpoint(ctx, a.db)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(cp)
	case "verify":
		var trusted *audit.Checkpoint
		if cpFile != "" {
			b, err := os.ReadFile(cpFile)
			if err != nil {
				return err
			}
			cp, err := audit.ParseCheckpoint(b)
			if err != nil {
				return fmt.Errorf("checkpoint %s: %w", cpFile, err)
			}
			trusted = &cp
		}
		rep, err := audit.Verify(ctx, a.db.Read(), a.keyring.CheckpointPublicKey(), trusted)
		if err != nil {
			return err
		}
		if !rep.OK {
			return fmt.Errorf("audit log FAILED verification at event %d: %s", rep.FirstBad, rep.Problem)
		}
		fmt.Fprintf(env.Stdout, "audit log OK: %d events, %d signed checkpoints\n", rep.Events, rep.Checkpoints)
		return nil
	}
	return fmt.Errorf("%w: unknown audit command %q", errUsage, args[0])
}
