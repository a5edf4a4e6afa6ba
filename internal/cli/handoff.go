package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

func runHandoff(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: gdprd handoff create --app NAME --alg hs256|eddsa [--public-key FILE] | handoff list | handoff revoke ID", errUsage)
	}
	var app, alg, pubFile string
	cfg, fs, err := parse(env, "handoff "+args[0], args[1:], func(fs *flag.FlagSet) {
		if args[0] == "create" {
			fs.StringVar(&app, "app", "", "the application's name: the issuer (iss) its tokens must carry")
			fs.StringVar(&alg, "alg", "hs256", "hs256 (a shared secret gdprd generates) or eddsa (your Ed25519 public key)")
			fs.StringVar(&pubFile, "public-key", "", "with --alg eddsa: the Ed25519 public key, PEM (PUBLIC KEY) or base64 of its 32 bytes")
		}
	})
	if err != nil {
		return err
	}
	var pub ed25519.PublicKey
	if args[0] == "create" {
		switch strings.ToLower(alg) {
		case "hs256":
			if pubFile != "" {
				return fmt.Errorf("%w: --public-key goes with --alg eddsa", errUsage)
			}
		case "eddsa":
			if pubFile == "" {
				return fmt.Errorf("%w: --alg eddsa needs --public-key FILE", errUsage)
			}
			if pub, err = readEd25519PublicKey(pubFile); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: --alg must be hs256 or eddsa", errUsage)
		}
	}
	a, err := openApp(ctx, cfg, newLogger(env.Stderr, cfg))
	if err != nil {
		return err
	}
	defer a.close()
	switch args[0] {
	case "create":
		if pub != nil {
			k, err := a.handoff.CreateEdDSA(ctx, app, pub, "operator:cli")
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "%s\n", k.ID)
			fmt.Fprintf(env.Stderr, "hand-off key %s: sign tokens with EdDSA, kid %q, iss %q, aud %q\n", k.ID, k.ID, k.App, portalAudience(cfg))
			return nil
		}
		k, secret, err := a.handoff.CreateHS256(ctx, app, "operator:cli")
		if err != nil {
			return err
		}
		// The secret alone on stdout, so scripts can capture it.
		fmt.Fprintln(env.Stdout, secret)
		fmt.Fprintf(env.Stderr, "hand-off key %s: sign tokens with HS256 using the secret above as the key, kid %q, iss %q, aud %q; it is not shown again\n",
			k.ID, k.ID, k.App, portalAudience(cfg))
		return nil
	case "list":
		list, err := a.handoff.Keys(ctx)
		if err != nil {
			return err
		}
		for _, k := range list {
			state := "active"
			if k.RevokedAt != nil {
				state = "revoked " + k.RevokedAt.Format("2006-01-02")
			}
			fmt.Fprintf(env.Stdout, "%s\t%s\t%s\t%s\n", k.ID, k.App, k.Alg, state)
		}
		return nil
	case "revoke":
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: gdprd handoff revoke ID", errUsage)
		}
		if err := a.handoff.Revoke(ctx, fs.Arg(0), "operator:cli"); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "revoked %s\n", fs.Arg(0))
		return nil
	}
	return fmt.Errorf("%w: unknown handoff command %q", errUsage, args[0])
}

// readEd25519PublicKey reads a PEM "PUBLIC KEY" (as `openssl pkey -pubout`
// writes it) or the base64 of the raw 32 bytes.
func readEd25519PublicKey(file string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	if block, _ := pem.Decode(b); block != nil {
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("public key: not an Ed25519 key")
		}
		return pub, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("public key: want PEM (PUBLIC KEY) or base64 of 32 bytes")
	}
	return ed25519.PublicKey(raw), nil
}
