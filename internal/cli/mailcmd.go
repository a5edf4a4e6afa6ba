package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/gdprd/gdprd/internal/i18n"
	"github.com/gdprd/gdprd/internal/mail"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

// runMail queues a test message, which the running server sends: the way
// to check GDPRD_SMTP_URL end to end.
func runMail(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] != "test" {
		return fmt.Errorf("%w: gdprd mail test --to ADDRESS [--lang en|de|fr]", errUsage)
	}
	var to, lang string
	cfg, _, err := parse(env, "mail test", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "recipient of the test message")
		fs.StringVar(&lang, "lang", i18n.Default, "language of the message")
	})
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, newLogger(env.Stderr, cfg))
	if err != nil {
		return err
	}
	defer a.close()
	l := a.catalog.Localizer(lang)
	var id string
	err = a.db.Write(ctx, func(tx *sqlstore.Tx) error {
		id, err = a.outbox.Queue(ctx, tx, mail.Message{Kind: "mail.test", To: to, Subject: l.T("mail.test.subject"), Text: l.T("mail.test.text")})
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "queued %s; the running server sends it\n", id)
	return nil
}
