package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"strings"

	"github.com/gdprd/gdprd/internal/auth"
	"github.com/gdprd/gdprd/internal/console"
	"github.com/gdprd/gdprd/internal/keys"
	"github.com/gdprd/gdprd/internal/vault"
)

// runDemo serves gdprd with a demo organisation: PrintFarm Cloud, a cloud
// service for 3D printers, and about fifty of its customers.
func runDemo(ctx context.Context, env Env, args []string) error {
	cfg, _, err := parse(env, "demo", args, nil)
	if err != nil {
		return err
	}
	// A public URL defaulted from a loopback address names localhost: the
	// console and portal set __Host- cookies, which need a secure context,
	// and every browser treats http://localhost as one.
	if loop, ok := strings.CutPrefix(cfg.PublicURL, "http://127.0.0.1:"); ok && cfg.PublicURL == "http://"+cfg.Addr {
		cfg.PublicURL = "http://localhost:" + loop
	}
	if err := keys.CreateMasterFile(cfg.MasterKeyFile); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	out := newBufferedLog(env.Stderr)
	defer out.Close()
	log := newLogger(out, cfg)
	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	defer ln.Close()
	a, err := openServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	var n int
	if err := a.db.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM subjects").Scan(&n); err != nil {
		return err
	}
	seeded := 0
	var enrol string // the demo owner's console enrolment link, first run only
	if n == 0 {
		if seeded, err = seedDemo(ctx, a.vault); err != nil {
			return fmt.Errorf("seed demo data: %w", err)
		}
		if err := seedDemoConsent(ctx, a.consent); err != nil {
			return fmt.Errorf("seed demo purposes and notices: %w", err)
		}
		_, token, err := a.staff.Create(ctx, "owner@printfarm.example", auth.RoleOwner, "operator:demo")
		if err != nil {
			return fmt.Errorf("seed demo owner: %w", err)
		}
		enrol = console.EnrolURL(strings.TrimSuffix(cfg.PublicURL, "/"), token)
	}
	// The demo plays the host application too, with its own hand-off key.
	_, secret, err := a.handoff.CreateHS256(ctx, "printfarm", "operator:demo")
	if err != nil {
		return fmt.Errorf("demo hand-off key: %w", err)
	}
	a.demoHost = newDemoHost("printfarm", cfg.PublicURL, secret)
	_, key, err := a.apiKeys.Create(ctx, auth.NewKey{
		Name: "demo", Scopes: auth.AllScopes, Purpose: "service-delivery", Rate: auth.DefaultRate, Actor: "operator:demo",
	})
	if err != nil {
		return err
	}
	return a.serve(ctx, env, ln, func(addr string) {
		base := strings.TrimRight(cfg.PublicURL, "/")
		w := env.Stdout
		fmt.Fprintf(w, "\ngdprd demo is running: PrintFarm Cloud, a 3D-printing service (%d people", n+seeded)
		if seeded > 0 {
			fmt.Fprintf(w, ", %d just seeded", seeded)
		}
		fmt.Fprintf(w, ")\n\n  API         %s/api/v1   (contract: %s/api/v1/openapi.json)\n", base, base)
		fmt.Fprintf(w, "  policies    %s/policies/   (published notices with history and diffs)\n", base)
		fmt.Fprintf(w, "  host app    %s/demo/   (the consent widget, and \"Manage my privacy\" links into the portal)\n", base)
		fmt.Fprintf(w, "  console     %s/console/\n", base)
		fmt.Fprintf(w, "  health      %s/healthz   %s/readyz   %s/metrics\n", base, base, base)
		fmt.Fprintf(w, "  data        %s (master key %s)\n\n", cfg.DataDir, cfg.MasterKeyFile)
		if enrol != "" {
			fmt.Fprintf(w, "Console owner owner@printfarm.example: set a password and TOTP within 24 h at\n\n  %s\n\n", enrol)
		} else {
			fmt.Fprintf(w, "Console: `gdprd admin create --data %s --email E --role owner` prints an enrolment link.\n\n", cfg.DataDir)
		}
		fmt.Fprintf(w, "A demo API key with every scope (shown once):\n\n  export GDPRD_KEY=%s\n\nTry:\n", key)
		fmt.Fprintf(w, "  curl -s -H \"Authorization: Bearer $GDPRD_KEY\" -H 'Content-Type: application/json' \\\n     -d '{\"email\":\"ada.lovelace@example.org\"}' %s/api/v1/subjects/lookup\n", base)
		fmt.Fprintf(w, "  curl -s -H \"Authorization: Bearer $GDPRD_KEY\" -H 'Content-Type: application/json' \\\n     -d '{\"email\":\"new.person@example.org\",\"data\":{\"contact\":{\"name\":\"New Person\"}}}' %s/api/v1/subjects\n", base)
		fmt.Fprintf(w, "  gdprd audit verify --data %s      # check the tamper-evident audit log\n\nStop with Ctrl-C.\n\n", cfg.DataDir)
	})
}

var (
	demoFirst = []string{"Ada", "Grace", "Alan", "Hedy", "Linus", "Margaret", "Tim", "Radia", "Ken", "Barbara", "Dennis", "Frances", "Edsger", "Katherine", "Niklaus", "Sophie", "Lukas", "Emma", "Mateo", "Chloé", "Jonas", "Lea", "Noah", "Mia", "Elias"}
	demoLast  = []string{"Lovelace", "Hopper", "Turing", "Lamarr", "Torvalds", "Hamilton", "Berners-Lee", "Perlman", "Thompson", "Liskov", "Ritchie", "Allen", "Dijkstra", "Johnson", "Wirth", "Wilson", "Müller", "Schmidt", "García", "Dubois", "Rossi", "Novak", "Jansen", "Nowak", "Virtanen"}
	demoCity  = []string{"Berlin", "München", "Wien", "Zürich", "Paris", "Lyon", "Madrid", "Milano", "Amsterdam", "Bruxelles", "Dublin", "København", "Stockholm", "Helsinki", "Praha", "Warszawa", "Lisboa"}
	demoPrint = []string{"Prusa MK4", "Bambu Lab X1C", "Creality K1", "Ultimaker S5", "Voron 2.4", "Anycubic Kobra 3"}
	demoPlan  = []string{"free", "maker", "pro", "farm"}
)

// seedDemo creates about fifty people with realistic data in several
// categories. The first one is always Ada Lovelace, so the README's
// example lookup finds someone.
func seedDemo(ctx context.Context, v *vault.Vault) (int, error) {
	rng := rand.New(rand.NewPCG(2026, 11))
	actor := systemActor("service-delivery")
	const people = 50
	for i := 0; i < people; i++ {
		first, last := demoFirst[i%len(demoFirst)], demoLast[(i*7)%len(demoLast)]
		if i == 0 {
			first, last = "Ada", "Lovelace"
		}
		email := strings.ToLower(fmt.Sprintf("%s.%s@example.org", ascii(first), ascii(last)))
		if i >= len(demoFirst) {
			email = strings.ToLower(fmt.Sprintf("%s.%s%d@example.org", ascii(first), ascii(last), i))
		}
		city := demoCity[rng.IntN(len(demoCity))]
		data := map[string]any{
			"contact": map[string]any{
				"name": first + " " + last, "street": fmt.Sprintf("%s %d", []string{"Hauptstraße", "Rue de la Paix", "Via Roma", "Kalverstraat", "Gran Vía"}[rng.IntN(5)], 1+rng.IntN(120)),
				"city": city, "postal_code": fmt.Sprintf("%05d", rng.IntN(99999)),
			},
			"profile": map[string]any{
				"language": []string{"en", "de", "fr", "es", "it", "nl"}[rng.IntN(6)], "plan": demoPlan[rng.IntN(len(demoPlan))],
				"printers": []string{demoPrint[rng.IntN(len(demoPrint))], demoPrint[rng.IntN(len(demoPrint))]},
			},
			"billing": map[string]any{
				"vat_id": fmt.Sprintf("DE%09d", rng.IntN(999999999)), "iban_last4": fmt.Sprintf("%04d", rng.IntN(9999)),
				"invoices": []map[string]any{{"number": fmt.Sprintf("PF-2026-%05d", 1000+i*3), "amount_eur": 9 + rng.IntN(90)}},
			},
			"security": map[string]any{
				"last_sign_in_ip": fmt.Sprintf("203.0.113.%d", 1+rng.IntN(250)), "two_factor": rng.IntN(2) == 1,
			},
			"usage": map[string]any{
				"print_jobs_30d": rng.IntN(400), "filament_grams_30d": rng.IntN(9000), "last_job": "benchy_v" + fmt.Sprint(1+rng.IntN(9)) + ".gcode",
			},
		}
		if rng.IntN(3) == 0 {
			data["marketing"] = map[string]any{"newsletter_topics": []string{"new-materials", "firmware"}, "last_campaign_opened": "2026-10-spring-sale"}
		}
		raw := map[string]json.RawMessage{}
		for k, val := range data {
			b, _ := json.Marshal(val)
			raw[k] = b
		}
		phone := ""
		if rng.IntN(2) == 0 {
			phone = fmt.Sprintf("+49 30 %d", 1000000+rng.IntN(8999999))
		}
		if _, err := v.Create(ctx, actor, vault.NewSubject{
			ExternalID: demoExternalID(i), Email: email, Phone: phone, Data: raw,
		}); err != nil {
			return i, err
		}
	}
	return people, nil
}

// ascii keeps demo e-mail addresses plain.
func ascii(s string) string {
	r := strings.NewReplacer("é", "e", "ü", "u", "í", "i", "ø", "o", "ö", "o", "ä", "a")
	return strings.ReplaceAll(r.Replace(s), " ", "")
}

// demoExternalID is the host application's id of demo customer i.
func demoExternalID(i int) string { return fmt.Sprintf("pf-user-%04d", 1000+i) }
