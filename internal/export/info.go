package export

import (
	"slices"
	"strings"

	"github.com/gdprd/gdprd/internal/consent"
)

// Info is the operator's part of the Art. 15 information: what gdprd
// cannot derive from its registers yet. The command line fills it with
// demonstration defaults; the recipient list stands in until the recipient
// register exists (issue 5: "configured list meanwhile").
type Info struct {
	// Controller names the controller and how to reach it.
	Controller string `json:"controller"`
	// DPO is the data protection officer's contact (Art. 38(4)).
	DPO string `json:"dpo,omitempty"`
	// SupervisoryAuthority is the authority a person may complain to
	// (Art. 15(1)(f)), with its contact.
	SupervisoryAuthority string `json:"supervisory_authority"`
	// Recipients are those the data is disclosed to, by name where known
	// (Art. 15(1)(c), CJEU C-154/21).
	Recipients []Recipient `json:"recipients"`
	// Source says where data not collected from the person comes from
	// (Art. 15(1)(g)); empty means it was all collected from the person.
	Source string `json:"source,omitempty"`
	// AutomatedDecisions lists the Art. 22 decisions taken about people;
	// empty means there are none (Art. 15(1)(h)).
	AutomatedDecisions []AutomatedDecision `json:"automated_decisions"`
	// TransferSafeguards describes the Art. 46 safeguards of transfers to
	// third countries in general (Art. 15(2)); each recipient names its own.
	TransferSafeguards string `json:"transfer_safeguards,omitempty"`
}

// Recipient is one recipient of personal data.
type Recipient struct {
	Name       string   `json:"name"`
	Role       string   `json:"role"`    // "processor", "controller", "authority"
	Country    string   `json:"country"` // ISO 3166-1 alpha-2
	Categories []string `json:"categories"`
	// Safeguard is the transfer mechanism for a third country (adequacy
	// decision, SCCs…), empty inside the EEA.
	Safeguard string `json:"safeguard,omitempty"`
}

// AutomatedDecision describes one solely automated decision (Art. 22) in
// the terms Art. 15(1)(h) asks for.
type AutomatedDecision struct {
	Name         string `json:"name"`
	Logic        string `json:"logic"`
	Significance string `json:"significance"`
	Consequences string `json:"consequences"`
}

// Right is one of the person's rights as it applies to their processing
// (gdpr-requirements 1.2.8): Applies is false, with the reason, where the
// legal bases of the purposes rule it out.
type Right struct {
	Right   string `json:"right"`
	Article string `json:"article"`
	Applies bool   `json:"applies"`
	Note    string `json:"note"`
}

// rights tailors the list of rights to the legal bases of the purposes
// (Art. 15(1)(e), (f); EDPB 01/2022: tailored, not generic).
func rights(purposes []consent.Purpose, sa string) []Right {
	has := func(bases ...consent.LegalBasis) []string {
		var slugs []string
		for _, p := range purposes {
			if slices.Contains(bases, p.Basis) {
				slugs = append(slugs, p.Slug)
			}
		}
		return slugs
	}
	list := func(s []string) string { return strings.Join(s, ", ") }
	out := []Right{
		{"access", "Art. 15", true, "You may ask for this package again; the first copy is free."},
		{"rectification", "Art. 16", true, "You may have inaccurate data corrected and incomplete data completed."},
		{"erasure", "Art. 17", true, "You may have your data erased; data we are legally obliged to keep is kept until the obligation ends, and you are told which and why."},
		{"restriction", "Art. 18", true, "You may have the processing of your data restricted while its accuracy or lawfulness is examined."},
	}
	if p := has(consent.Consent, consent.Contract); len(p) > 0 {
		out = append(out, Right{"portability", "Art. 20", true, "Applies to the data you provided for: " + list(p) + "."})
	} else {
		out = append(out, Right{"portability", "Art. 20", false, "None of our purposes relies on your consent or a contract with you."})
	}
	if p := has(consent.LegitimateInterest, consent.PublicTask); len(p) > 0 {
		out = append(out, Right{"objection", "Art. 21", true, "You may object to processing based on legitimate interests or a public task: " + list(p) + ". An objection to direct marketing always takes effect."})
	} else {
		out = append(out, Right{"objection", "Art. 21", false, "None of our purposes relies on legitimate interests or a public task."})
	}
	if p := has(consent.Consent); len(p) > 0 {
		out = append(out, Right{"withdraw-consent", "Art. 7(3)", true, "You may withdraw your consent at any time, as easily as you gave it: " + list(p) + ". Processing before the withdrawal stays lawful."})
	} else {
		out = append(out, Right{"withdraw-consent", "Art. 7(3)", false, "None of our purposes relies on your consent."})
	}
	out = append(out,
		Right{"human-review", "Art. 22", true, "You may ask for a person to review an automated decision, express your point of view and contest it."},
		Right{"complaint", "Art. 77", true, "You may lodge a complaint with a supervisory authority: " + sa + "."},
		Right{"judicial-remedy", "Arts. 78, 79", true, "You may seek a judicial remedy against us or the supervisory authority."},
	)
	return out
}
