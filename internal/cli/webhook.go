package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"
)

func runWebhook(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: gdprd webhook create --url URL --events E[,E] | webhook list | webhook disable ID | webhook deliveries [--endpoint ID]", errUsage)
	}
	var u, events, endpoint string
	cfg, fs, err := parse(env, "webhook "+args[0], args[1:], func(fs *flag.FlagSet) {
		switch args[0] {
		case "create":
			fs.StringVar(&u, "url", "", "where to POST events (https://…)")
			fs.StringVar(&events, "events", "subject.erased", "comma-separated event types, or * for all")
		case "deliveries":
			fs.StringVar(&endpoint, "endpoint", "", "only deliveries to this endpoint")
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
		ep, secret, err := a.webhooks.CreateEndpoint(ctx, u, splitList(events), "operator:cli")
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, secret)
		fmt.Fprintf(env.Stderr, "webhook endpoint %s: verify the Standard Webhooks signatures with the secret above; it is not shown again\n", ep.ID)
		return nil
	case "list":
		list, err := a.webhooks.Endpoints(ctx)
		if err != nil {
			return err
		}
		for _, ep := range list {
			state := "active"
			if ep.DisabledAt != nil {
				state = "disabled " + ep.DisabledAt.Format("2006-01-02")
			}
			fmt.Fprintf(env.Stdout, "%s\t%s\t%s\t%s\n", ep.ID, ep.URL, strings.Join(ep.Events, ","), state)
		}
		return nil
	case "disable":
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: gdprd webhook disable ID", errUsage)
		}
		if err := a.webhooks.DisableEndpoint(ctx, fs.Arg(0), "operator:cli"); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "disabled %s\n", fs.Arg(0))
		return nil
	case "deliveries":
		list, err := a.webhooks.Deliveries(ctx, endpoint, "", 100)
		if err != nil {
			return err
		}
		for _, d := range list {
			next := "-"
			if !d.NextAttempt.IsZero() {
				next = d.NextAttempt.Format(time.RFC3339)
			}
			fmt.Fprintf(env.Stdout, "%s\t%s\t%s\t%s\tattempts=%d\tstatus=%d\tnext=%s\n", d.ID, d.EndpointID, d.Event, d.State, d.Attempts, d.LastStatus, next)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown webhook command %q", errUsage, args[0])
}
