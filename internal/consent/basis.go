package consent

// LegalBasis is one of the six lawful bases of GDPR Art. 6(1). The set is
// closed: processing without one of them is unlawful, so nothing else is
// accepted.
type LegalBasis string

const (
	Consent            LegalBasis = "consent"             // Art. 6(1)(a)
	Contract           LegalBasis = "contract"            // Art. 6(1)(b)
	LegalObligation    LegalBasis = "legal-obligation"    // Art. 6(1)(c)
	VitalInterests     LegalBasis = "vital-interests"     // Art. 6(1)(d)
	PublicTask         LegalBasis = "public-task"         // Art. 6(1)(e)
	LegitimateInterest LegalBasis = "legitimate-interest" // Art. 6(1)(f)
)

// LegalBases lists every basis in the order of Art. 6(1).
func LegalBases() []LegalBasis {
	return []LegalBasis{Consent, Contract, LegalObligation, VitalInterests, PublicTask, LegitimateInterest}
}

var basisLetters = map[LegalBasis]string{
	Consent: "a", Contract: "b", LegalObligation: "c", VitalInterests: "d", PublicTask: "e", LegitimateInterest: "f",
}

// Valid reports whether b is one of the six bases.
func (b LegalBasis) Valid() bool { _, ok := basisLetters[b]; return ok }

// Article is the provision, e.g. "Art. 6(1)(a)", for notices and exports.
func (b LegalBasis) Article() string { return "Art. 6(1)(" + basisLetters[b] + ")" }

// DPV is the basis's W3C Data Privacy Vocabulary concept (e.g.
// "eu-gdpr:A6-1-a"), a stable external identifier for exports and
// consent receipts.
func (b LegalBasis) DPV() string { return "eu-gdpr:A6-1-" + basisLetters[b] }

// Objectable reports whether Art. 21(1) gives a right to object to
// processing on this basis (public task and legitimate interests). Direct
// marketing can be objected to whatever its basis (Art. 21(2)).
func (b LegalBasis) Objectable() bool { return b == PublicTask || b == LegitimateInterest }

// Art9Condition is one of the conditions of GDPR Art. 9(2)(a)–(j) under
// which special categories of personal data (health, religion, biometrics…)
// may be processed. Closed set, like LegalBasis.
type Art9Condition string

const (
	ExplicitConsent           Art9Condition = "explicit-consent"            // (a)
	Employment                Art9Condition = "employment"                  // (b)
	VitalInterestsIncapable   Art9Condition = "vital-interests"             // (c)
	NotForProfit              Art9Condition = "not-for-profit"              // (d)
	ManifestlyPublic          Art9Condition = "made-public"                 // (e)
	LegalClaims               Art9Condition = "legal-claims"                // (f)
	SubstantialPublicInterest Art9Condition = "substantial-public-interest" // (g)
	HealthCare                Art9Condition = "health-care"                 // (h)
	PublicHealth              Art9Condition = "public-health"               // (i)
	ArchivingResearch         Art9Condition = "archiving-research"          // (j)
)

var art9Letters = map[Art9Condition]string{
	ExplicitConsent: "a", Employment: "b", VitalInterestsIncapable: "c", NotForProfit: "d",
	ManifestlyPublic: "e", LegalClaims: "f", SubstantialPublicInterest: "g", HealthCare: "h",
	PublicHealth: "i", ArchivingResearch: "j",
}

// Valid reports whether c is one of the ten conditions.
func (c Art9Condition) Valid() bool { _, ok := art9Letters[c]; return ok }

// Article is the provision, e.g. "Art. 9(2)(a)".
func (c Art9Condition) Article() string { return "Art. 9(2)(" + art9Letters[c] + ")" }

// DPV is the condition's DPV concept, e.g. "eu-gdpr:A9-2-a".
func (c Art9Condition) DPV() string { return "eu-gdpr:A9-2-" + art9Letters[c] }
