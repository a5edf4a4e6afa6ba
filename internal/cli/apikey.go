package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/vault"
)

func systemActor(purpose string) vault.Actor {
	return vault.Actor{Name: "operator:cli", Purpose: purpose}
}

func runAPIKey(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: gdprd apikey create | list | revoke ID", errUsage)
	}
	var name, scopes, purpose string
	var rate int
	cfg, fs, err := parse(env, "apikey "+args[0], args[1:], func(fs *flag.FlagSet) {
		if args[0] == "create" {
			fs.StringVar(&name, "name", "", "a name saying who uses the key")
			fs.StringVar(&scopes, "scopes", "", "comma-separated scopes: "+strings.Join(auth.AllScopes, ","))
			fs.StringVar(&purpose, "purpose", "service-delivery", "the purpose reads default to when a request names none")
			fs.IntVar(&rate, "rate", auth.DefaultRate, "requests per second allowed (burst twice that); 0 = unlimited")
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
	case "create":
		_, secret, err := a.apiKeys.Create(ctx, auth.NewKey{Name: name, Scopes: splitList(scopes), Purpose: purpose, Rate: rate, Actor: "operator:cli"})
		if err != nil {
			return err
		}
		// The secret alone on stdout, so scripts can capture it.
		fmt.Fprintln(env.Stdout, secret)
		return nil
	case "list":
		list, err := a.apiKeys.List(ctx)
		if err != nil {
			return err
		}
		for _, k := range list {
			state := "active"
			if k.RevokedAt != nil {
				state = "revoked " + k.RevokedAt.Format("2006-01-02")
			}
			fmt.Fprintf(env.Stdout, "%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.Join(k.Scopes, ","), state)
		}
		return nil
	case "revoke":
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: gdprd apikey revoke ID", errUsage)
		}
		if err := a.apiKeys.Revoke(ctx, fs.Arg(0), "operator:cli"); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "revoked %s\n", fs.Arg(0))
		return nil
	}
	return fmt.Errorf("%w: unknown apikey command %q", errUsage, args[0])
}
