package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/gdprd/gdprd/internal/consent"
)

// seedDemoConsent gives the demo organisation its optional purposes and
// the first published version of its four notices, so that /policies and
// the consent API have something real to show. (Service delivery and
// security come with every installation.)
func seedDemoConsent(ctx context.Context, r *consent.Register) error {
	a := consent.Actor{Name: "operator:demo", Purpose: "service-delivery"}
	effective := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	for _, n := range demoNotices {
		v, err := r.DraftNotice(ctx, a, n.slug, consent.Draft{Body: n.body, EffectiveAt: effective, Summary: "First published version.", Material: true})
		if err != nil {
			return fmt.Errorf("draft %s: %w", n.slug, err)
		}
		if _, err := r.PublishNotice(ctx, a, n.slug, v.Version); err != nil {
			return fmt.Errorf("publish %s: %w", n.slug, err)
		}
	}
	for _, p := range demoPurposes {
		if _, err := r.CreatePurpose(ctx, a, p); err != nil {
			return fmt.Errorf("purpose %s: %w", p.Slug, err)
		}
	}
	return nil
}

var demoPurposes = []consent.Purpose{
	{
		Slug:  "newsletter",
		Names: map[string]string{"en": "Newsletter", "de": "Newsletter"},
		Descriptions: map[string]string{
			"en": "A monthly e-mail about new materials, firmware updates and printing tips.",
			"de": "Eine monatliche E-Mail über neue Materialien, Firmware-Updates und Drucktipps.",
		},
		Basis: consent.Consent, Categories: []string{"contact", "marketing"}, DirectMarketing: true, Retention: "P2Y",
	},
	{
		Slug:  "product-analytics",
		Names: map[string]string{"en": "Product analytics", "de": "Produktanalyse"},
		Descriptions: map[string]string{
			"en": "Counting which features are used and how long print jobs take, to improve the service.",
			"de": "Zählen, welche Funktionen genutzt werden und wie lange Druckaufträge dauern, um den Dienst zu verbessern.",
		},
		Basis: consent.Consent, Categories: []string{"usage"}, Retention: "P13M",
	},
	{
		Slug:  "partner-offers",
		Names: map[string]string{"en": "Offers from filament partners", "de": "Angebote von Filament-Partnern"},
		Descriptions: map[string]string{
			"en": "Passing your name and e-mail address to selected filament makers so they can send you offers.",
			"de": "Weitergabe Ihres Namens und Ihrer E-Mail-Adresse an ausgewählte Filamenthersteller für Angebote.",
		},
		Basis: consent.Consent, Categories: []string{"contact", "marketing"}, DirectMarketing: true, Retention: "P1Y",
	},
}

var demoNotices = []struct{ slug, body string }{
	{"privacy-policy", `# Privacy Policy of PrintFarm Cloud

PrintFarm Cloud GmbH, Beispielstraße 1, 10115 Berlin, runs the cloud service for your 3D printers.
Our data protection officer is reachable at [dpo@printfarm.example](mailto:dpo@printfarm.example).

## What we process and why

- Your e-mail address and name, to run your account (contract, Art. 6(1)(b) GDPR).
- Print job metadata (file name, duration, material), to show your print history (contract).
- Sign-in history and IP addresses, to keep your account safe (legitimate interest, Art. 6(1)(f)).
- Invoices, because tax law requires us to keep them (legal obligation, Art. 6(1)(c)).
- With your consent only: the newsletter, product analytics and offers from filament partners.
  You can withdraw consent at any time, as easily as you gave it.

## How long we keep it

Account data while your account exists, then 30 days. Invoices for 10 years (§ 147 AO).

## Your rights

You may ask for a copy of your data, have it corrected or erased, restrict or object to its
processing, and take it elsewhere. You may complain to a supervisory authority.
`},
	{"terms-of-use", `# Terms of Use of PrintFarm Cloud

These terms govern your use of PrintFarm Cloud. By creating an account you agree to them.

1. You keep the rights to the files you print.
2. Do not use the service to print anything unlawful.
3. We may suspend accounts that endanger the service or other people.
4. Paid plans renew monthly and can be cancelled at the end of any month.
`},
	{"cookie-policy", `# Cookie Policy

PrintFarm Cloud sets only strictly necessary cookies: one for your session after you sign in, and
one that remembers your language. We set no advertising or analytics cookies without your consent.
`},
	{"data-handling-policy", `# Data Handling Policy

How PrintFarm Cloud staff handle personal data:

- Personal data is encrypted at rest with a key per person; erasing a person destroys their key.
- Every access to personal data is recorded in a tamper-evident audit log.
- Staff sign in with a password and a second factor, and see only what their role needs.
- Requests to see, export, correct or erase data are answered within one month.
`},
}
