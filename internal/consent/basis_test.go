package consent_test

import (
	"testing"

	"github.com/gdprd/gdprd/internal/consent"
)

// TestLegalIdentifiers: each basis and Art. 9(2) condition maps to its own
// letter of the Regulation and DPV concept, which exports and receipts
// quote, and only the Art. 21(1) bases can be objected to.
func TestLegalIdentifiers(t *testing.T) {
	bases := []struct {
		basis        consent.LegalBasis
		article, dpv string
		objectable   bool
	}{
		{consent.Consent, "Art. 6(1)(a)", "eu-gdpr:A6-1-a", false},
		{consent.Contract, "Art. 6(1)(b)", "eu-gdpr:A6-1-b", false},
		{consent.LegalObligation, "Art. 6(1)(c)", "eu-gdpr:A6-1-c", false},
		{consent.VitalInterests, "Art. 6(1)(d)", "eu-gdpr:A6-1-d", false},
		{consent.PublicTask, "Art. 6(1)(e)", "eu-gdpr:A6-1-e", true},
		{consent.LegitimateInterest, "Art. 6(1)(f)", "eu-gdpr:A6-1-f", true},
	}
	for _, tc := range bases {
		t.Run(string(tc.basis), func(t *testing.T) {
			b := tc.basis
			if !b.Valid() || b.Article() != tc.article || b.DPV() != tc.dpv || b.Objectable() != tc.objectable {
				t.Errorf("valid %v, %s, %s, objectable %v; want true, %s, %s, %v",
					b.Valid(), b.Article(), b.DPV(), b.Objectable(), tc.article, tc.dpv, tc.objectable)
			}
		})
	}
	conditions := []struct {
		cond         consent.Art9Condition
		article, dpv string
	}{
		{consent.ExplicitConsent, "Art. 9(2)(a)", "eu-gdpr:A9-2-a"},
		{consent.HealthCare, "Art. 9(2)(h)", "eu-gdpr:A9-2-h"},
		{consent.ArchivingResearch, "Art. 9(2)(j)", "eu-gdpr:A9-2-j"},
	}
	for _, tc := range conditions {
		t.Run(string(tc.cond), func(t *testing.T) {
			c := tc.cond
			if !c.Valid() || c.Article() != tc.article || c.DPV() != tc.dpv {
				t.Errorf("valid %v, %s, %s; want true, %s, %s", c.Valid(), c.Article(), c.DPV(), tc.article, tc.dpv)
			}
		})
	}
	for i, b := range consent.LegalBases() {
		if i >= len(bases) || b != bases[i].basis {
			t.Errorf("LegalBases()[%d] = %s, want the order of Art. 6(1)", i, b)
		}
	}
	if n := len(consent.LegalBases()); n != len(bases) {
		t.Errorf("LegalBases() has %d entries, Art. 6(1) has six", n)
	}
	for _, bad := range []consent.LegalBasis{"", "Consent", "vital interests"} {
		if bad.Valid() {
			t.Errorf("%q is accepted as a legal basis", bad)
		}
	}
	if consent.Art9Condition("k").Valid() {
		t.Error(`"k" is accepted as an Art. 9(2) condition`)
	}
}
