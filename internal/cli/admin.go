package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/console"
)

// runAdmin manages console staff from the command line; it is how the
// first owner comes to exist.
func runAdmin(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("%w: gdprd admin create --email E --role owner|dpo|support|auditor", errUsage)
	}
	var email, role string
	cfg, _, err := parse(env, "admin create", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the staff member's e-mail address")
		fs.StringVar(&role, "role", "", "owner, dpo, support or auditor")
	})
	if err != nil {
		return err
	}
	if email == "" || role == "" {
		return fmt.Errorf("%w: --email and --role are required", errUsage)
	}
	r, err := auth.ParseRole(role)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	a, err := openApp(ctx, cfg, newLogger(env.Stderr, cfg))
	if err != nil {
		return err
	}
	defer a.close()
	m, token, err := a.staff.Create(ctx, email, r, "operator:cli")
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "created %s (%s); the enrolment link works once, for %s:\n", m.ID, m.Role, auth.EnrolmentTTL)
	// The link alone on stdout, so scripts can capture it.
	fmt.Fprintln(env.Stdout, console.EnrolURL(strings.TrimSuffix(cfg.PublicURL, "/"), token))
	return nil
}
