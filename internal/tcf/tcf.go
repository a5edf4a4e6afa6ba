// Package tcf decodes the consent signals an operator's own consent
// management platform (CMP) produces: IAB Europe TCF v2.2/v2.3 TC strings
// and IAB Global Privacy Platform (GPP) strings. gdprd stores them as
// evidence of what a visitor chose and shows what they say (S-01, S-02).
//
// It only decodes. TCF policy lets only registered CMPs create TC strings
// and forbids vendors to alter them, so gdprd never mints one. Decoding and
// policy validation are separate: a string can be well formed and still
// break a TCF policy rule (Problems reports those), and it is still evidence
// of what the CMP recorded. A stored TC string that can be linked to a
// person is personal data (CJEU C-604/22): callers seal it like any other.
package tcf

import (
	"strings"
	"time"
)

// RestrictionType is a publisher restriction on a purpose for some vendors.
type RestrictionType int

// The restriction types of the TCF.
const (
	NotAllowed     RestrictionType = 0
	RequireConsent RestrictionType = 1
	RequireLI      RestrictionType = 2
)

func (t RestrictionType) String() string {
	switch t {
	case NotAllowed:
		return "not_allowed"
	case RequireConsent:
		return "require_consent"
	case RequireLI:
		return "require_legitimate_interest"
	}
	return "undefined"
}

// Restriction is one publisher restriction: a purpose, a type and the
// vendors it applies to.
type Restriction struct {
	PurposeID int             `json:"purpose_id"`
	Type      RestrictionType `json:"restriction_type"`
	Vendors   []int           `json:"vendors"`
}

// TCString is a decoded TC string. Id lists are sorted ascending.
type TCString struct {
	Version                    int           `json:"version"`
	Created                    time.Time     `json:"created"`
	LastUpdated                time.Time     `json:"last_updated"`
	CmpID                      int           `json:"cmp_id"`
	CmpVersion                 int           `json:"cmp_version"`
	ConsentScreen              int           `json:"consent_screen"`
	ConsentLanguage            string        `json:"consent_language"`
	VendorListVersion          int           `json:"vendor_list_version"`
	PolicyVersion              int           `json:"policy_version"`
	IsServiceSpecific          bool          `json:"is_service_specific"`
	UseNonStandardTexts        bool          `json:"use_non_standard_texts"`
	SpecialFeatureOptIns       []int         `json:"special_feature_opt_ins"`
	PurposeConsents            []int         `json:"purpose_consents"`
	PurposeLegitimateInterests []int         `json:"purpose_legitimate_interests"`
	PurposeOneTreatment        bool          `json:"purpose_one_treatment"`
	PublisherCountryCode       string        `json:"publisher_country_code"`
	VendorConsents             []int         `json:"vendor_consents"`
	VendorLegitimateInterests  []int         `json:"vendor_legitimate_interests"`
	PublisherRestrictions      []Restriction `json:"publisher_restrictions"`

	// Optional segments.
	HasDisclosedVendors              bool  `json:"has_disclosed_vendors"`
	VendorsDisclosed                 []int `json:"vendors_disclosed"`
	VendorsAllowed                   []int `json:"vendors_allowed"` // historic segment 2
	PublisherConsents                []int `json:"publisher_consents"`
	PublisherLegitimateInterests     []int `json:"publisher_legitimate_interests"`
	CustomPurposeConsents            []int `json:"custom_purpose_consents"`
	CustomPurposeLegitimateInterests []int `json:"custom_purpose_legitimate_interests"`
}

// Segment types after the core segment.
const (
	segmentDisclosedVendors = 1
	segmentAllowedVendors   = 2
	segmentPublisherTC      = 3
)

// Decode parses a TC string: the core segment and any disclosed-vendors,
// allowed-vendors and publisher-TC segments after it. Every error wraps
// ErrMalformed.
func Decode(s string) (*TCString, error) {
	if len(s) > MaxLength {
		return nil, malformed("longer than %d characters", MaxLength)
	}
	segments := strings.Split(s, ".")
	t, err := decodeCore(segments[0])
	if err != nil {
		return nil, err
	}
	seen := map[uint64]bool{}
	for _, seg := range segments[1:] {
		r, err := newBitReader(seg)
		if err != nil {
			return nil, err
		}
		typ, err := r.uint(3, "SegmentType")
		if err != nil {
			return nil, err
		}
		if seen[typ] {
			return nil, malformed("segment type %d appears twice", typ)
		}
		seen[typ] = true
		switch typ {
		case segmentDisclosedVendors:
			t.HasDisclosedVendors = true
			if t.VendorsDisclosed, err = r.vendorVector("DisclosedVendors"); err != nil {
				return nil, err
			}
		case segmentAllowedVendors:
			if t.VendorsAllowed, err = r.vendorVector("AllowedVendors"); err != nil {
				return nil, err
			}
		case segmentPublisherTC:
			if err := decodePublisherTC(r, t); err != nil {
				return nil, err
			}
		default:
			return nil, malformed("unknown segment type %d", typ)
		}
	}
	return t, nil
}

func decodeCore(seg string) (*TCString, error) {
	r, err := newBitReader(seg)
	if err != nil {
		return nil, err
	}
	t := &TCString{}
	if t.Version, err = r.int(6, "Version"); err != nil {
		return nil, err
	}
	if t.Version != 2 {
		return nil, malformed("version %d: only TCF v2 strings are supported", t.Version)
	}
	created, err := r.uint(36, "Created")
	if err != nil {
		return nil, err
	}
	updated, err := r.uint(36, "LastUpdated")
	if err != nil {
		return nil, err
	}
	t.Created, t.LastUpdated = deciseconds(created), deciseconds(updated)
	ints := []struct {
		dst   *int
		bits  int
		field string
	}{
		{&t.CmpID, 12, "CmpId"}, {&t.CmpVersion, 12, "CmpVersion"}, {&t.ConsentScreen, 6, "ConsentScreen"},
	}
	for _, f := range ints {
		if *f.dst, err = r.int(f.bits, f.field); err != nil {
			return nil, err
		}
	}
	if t.ConsentLanguage, err = r.letters(2, "ConsentLanguage"); err != nil {
		return nil, err
	}
	if t.VendorListVersion, err = r.int(12, "VendorListVersion"); err != nil {
		return nil, err
	}
	if t.PolicyVersion, err = r.int(6, "TcfPolicyVersion"); err != nil {
		return nil, err
	}
	if t.IsServiceSpecific, err = r.bool("IsServiceSpecific"); err != nil {
		return nil, err
	}
	if t.UseNonStandardTexts, err = r.bool("UseNonStandardTexts"); err != nil {
		return nil, err
	}
	if t.SpecialFeatureOptIns, err = r.bitfield(12, "SpecialFeatureOptIns"); err != nil {
		return nil, err
	}
	if t.PurposeConsents, err = r.bitfield(24, "PurposesConsent"); err != nil {
		return nil, err
	}
	if t.PurposeLegitimateInterests, err = r.bitfield(24, "PurposesLITransparency"); err != nil {
		return nil, err
	}
	if t.PurposeOneTreatment, err = r.bool("PurposeOneTreatment"); err != nil {
		return nil, err
	}
	if t.PublisherCountryCode, err = r.letters(2, "PublisherCC"); err != nil {
		return nil, err
	}
	if t.VendorConsents, err = r.vendorVector("VendorConsents"); err != nil {
		return nil, err
	}
	if t.VendorLegitimateInterests, err = r.vendorVector("VendorLegitimateInterests"); err != nil {
		return nil, err
	}
	n, err := r.int(12, "NumPubRestrictions")
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		var pr Restriction
		if pr.PurposeID, err = r.int(6, "PurposeId"); err != nil {
			return nil, err
		}
		typ, err := r.int(2, "RestrictionType")
		if err != nil {
			return nil, err
		}
		if typ > int(RequireLI) {
			return nil, malformed("restriction type %d is undefined", typ)
		}
		pr.Type = RestrictionType(typ)
		if pr.Vendors, err = r.rangeEntries(0, "PubRestrictionEntry"); err != nil {
			return nil, err
		}
		t.PublisherRestrictions = append(t.PublisherRestrictions, pr)
	}
	return t, nil
}

func decodePublisherTC(r *bitReader, t *TCString) error {
	var err error
	if t.PublisherConsents, err = r.bitfield(24, "PubPurposesConsent"); err != nil {
		return err
	}
	if t.PublisherLegitimateInterests, err = r.bitfield(24, "PubPurposesLITransparency"); err != nil {
		return err
	}
	n, err := r.int(6, "NumCustomPurposes")
	if err != nil {
		return err
	}
	if t.CustomPurposeConsents, err = r.bitfield(n, "CustomPurposesConsent"); err != nil {
		return err
	}
	t.CustomPurposeLegitimateInterests, err = r.bitfield(n, "CustomPurposesLITransparency")
	return err
}

func deciseconds(ds uint64) time.Time {
	return time.UnixMilli(int64(ds) * 100).UTC()
}

// Problems lists the TCF policy rules a well-formed string breaks, in
// plain words for the console; nil when it breaks none we check.
func (t *TCString) Problems() []string {
	var out []string
	// Policy version 4 came with TCF v2.2; from 30 September 2023 strings
	// with an older policy version are invalid.
	if t.PolicyVersion < 4 && t.Created.After(time.Date(2023, 9, 30, 0, 0, 0, 0, time.UTC)) {
		out = append(out, "policy version below 4 on a string created after 30 September 2023")
	}
	for _, p := range t.PurposeLegitimateInterests {
		if p >= 3 && p <= 6 {
			out = append(out, "legitimate interest used for purposes 3 to 6, which TCF v2.2 forbids")
			break
		}
	}
	if !t.HasDisclosedVendors {
		out = append(out, "no disclosed-vendors segment, which TCF v2.3 makes mandatory")
	}
	return out
}
