package cli

import (
	"github.com/gdprd/gdprd/internal/config"
	"github.com/gdprd/gdprd/internal/export"
)

// exportInfo is the operator's Art. 15 information in access packages.
// These are demonstration defaults, to be replaced by settings and by the
// recipient and processing registers when they exist: the recipients are
// the "configured list meanwhile" of issue 5.
func exportInfo(cfg *config.Config) export.Info {
	return export.Info{
		Controller:           "The operator of this service (set the controller's name and address in the settings); contact: " + cfg.PublicURL,
		DPO:                  "The data protection officer, reachable through the privacy portal",
		SupervisoryAuthority: "the supervisory authority of the EU member state where you live or work, or where the alleged infringement took place",
		Recipients: []export.Recipient{
			{Name: "Hosting provider (processor)", Role: "processor", Country: "DE",
				Categories: []string{"contact", "profile", "billing", "security", "usage", "marketing"}},
			{Name: "E-mail delivery service (processor)", Role: "processor", Country: "IE",
				Categories: []string{"contact"}},
			{Name: "Payment provider", Role: "controller", Country: "NL", Categories: []string{"billing"}},
			{Name: "Tax authority, when required by law", Role: "authority", Country: "DE", Categories: []string{"billing"}},
		},
		// Source and TransferSafeguards stay empty: the package then says
		// that all data was collected from the person and that none leaves
		// the EEA, which holds for the demo organisation.
	}
}
