package tcf

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// golden is one entry of testdata/tc_golden.json, written by the IAB
// reference implementation (see testdata/gen/README.md).
type golden struct {
	TCString string `json:"tc_string"`
	Decoded  struct {
		Version                      int           `json:"version"`
		Created                      time.Time     `json:"created"`
		LastUpdated                  time.Time     `json:"last_updated"`
		CmpID                        int           `json:"cmp_id"`
		CmpVersion                   int           `json:"cmp_version"`
		ConsentScreen                int           `json:"consent_screen"`
		ConsentLanguage              string        `json:"consent_language"`
		VendorListVersion            int           `json:"vendor_list_version"`
		PolicyVersion                int           `json:"policy_version"`
		IsServiceSpecific            bool          `json:"is_service_specific"`
		UseNonStandardTexts          bool          `json:"use_non_standard_texts"`
		SpecialFeatureOptIns         []int         `json:"special_feature_opt_ins"`
		PurposeConsents              []int         `json:"purpose_consents"`
		PurposeLegitimateInterests   []int         `json:"purpose_legitimate_interests"`
		PurposeOneTreatment          bool          `json:"purpose_one_treatment"`
		PublisherCountryCode         string        `json:"publisher_country_code"`
		VendorConsents               []int         `json:"vendor_consents"`
		VendorLegitimateInterests    []int         `json:"vendor_legitimate_interests"`
		VendorsDisclosed             []int         `json:"vendors_disclosed"`
		PublisherConsents            []int         `json:"publisher_consents"`
		PublisherLegitimateInterests []int         `json:"publisher_legitimate_interests"`
		PublisherRestrictions        []Restriction `json:"publisher_restrictions"`
	} `json:"decoded"`
}

func loadGolden(t *testing.T) []golden {
	t.Helper()
	b, err := os.ReadFile("testdata/tc_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var gs []golden
	if err := json.Unmarshal(b, &gs); err != nil {
		t.Fatal(err)
	}
	if len(gs) < 50 {
		t.Fatalf("golden file has %d strings, want at least 50", len(gs))
	}
	return gs
}

// TestDecodeAgreesWithReference decodes every string the IAB reference
// encoder produced and compares each field with the reference decoder.
func TestDecodeAgreesWithReference(t *testing.T) {
	var restrictions, ranges int
	for i, g := range loadGolden(t) {
		got, err := Decode(g.TCString)
		if err != nil {
			t.Fatalf("golden %d: %v", i, err)
		}
		w := g.Decoded
		eq := func(field string, got, want any) {
			t.Helper()
			norm := func(v any) any {
				if ids, ok := v.([]int); ok && len(ids) == 0 {
					return []int(nil)
				}
				if rs, ok := v.([]Restriction); ok && len(rs) == 0 {
					return []Restriction(nil)
				}
				return v
			}
			if !reflect.DeepEqual(norm(got), norm(want)) {
				t.Errorf("golden %d %s: got %v, want %v", i, field, got, want)
			}
		}
		eq("version", got.Version, w.Version)
		eq("created", got.Created, w.Created.UTC())
		eq("last_updated", got.LastUpdated, w.LastUpdated.UTC())
		eq("cmp_id", got.CmpID, w.CmpID)
		eq("cmp_version", got.CmpVersion, w.CmpVersion)
		eq("consent_screen", got.ConsentScreen, w.ConsentScreen)
		eq("consent_language", got.ConsentLanguage, w.ConsentLanguage)
		eq("vendor_list_version", got.VendorListVersion, w.VendorListVersion)
		eq("policy_version", got.PolicyVersion, w.PolicyVersion)
		eq("is_service_specific", got.IsServiceSpecific, w.IsServiceSpecific)
		eq("use_non_standard_texts", got.UseNonStandardTexts, w.UseNonStandardTexts)
		eq("special_feature_opt_ins", got.SpecialFeatureOptIns, w.SpecialFeatureOptIns)
		eq("purpose_consents", got.PurposeConsents, w.PurposeConsents)
		eq("purpose_legitimate_interests", got.PurposeLegitimateInterests, w.PurposeLegitimateInterests)
		eq("purpose_one_treatment", got.PurposeOneTreatment, w.PurposeOneTreatment)
		eq("publisher_country_code", got.PublisherCountryCode, w.PublisherCountryCode)
		eq("vendor_consents", got.VendorConsents, w.VendorConsents)
		eq("vendor_legitimate_interests", got.VendorLegitimateInterests, w.VendorLegitimateInterests)
		eq("vendors_disclosed", got.VendorsDisclosed, w.VendorsDisclosed)
		eq("publisher_consents", got.PublisherConsents, w.PublisherConsents)
		eq("publisher_legitimate_interests", got.PublisherLegitimateInterests, w.PublisherLegitimateInterests)
		eq("publisher_restrictions", sortedRestrictions(got.PublisherRestrictions), w.PublisherRestrictions)
		restrictions += len(got.PublisherRestrictions)
		if strings.Contains(g.TCString, ".") && len(got.VendorConsents) > 0 && len(got.VendorConsents) < 20 {
			ranges++
		}
	}
	// The file must exercise what it claims to: restrictions and sparse
	// (range-encoded) vendor sets.
	if restrictions == 0 || ranges == 0 {
		t.Fatalf("golden file exercises %d restrictions and %d sparse vendor sets; regenerate it", restrictions, ranges)
	}
}

func sortedRestrictions(rs []Restriction) []Restriction {
	out := append([]Restriction(nil), rs...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && (out[j].PurposeID < out[j-1].PurposeID ||
			out[j].PurposeID == out[j-1].PurposeID && out[j].Type < out[j-1].Type); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// TestDecodeKnownStrings checks strings published elsewhere: the worked
// example of the TCF specification and a real-world string from another
// parser's documentation, both decoded with the reference implementation.
func TestDecodeKnownStrings(t *testing.T) {
	t.Run("spec worked example", func(t *testing.T) {
		got, err := Decode("CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA.YAAAAAAAAAAA")
		if err != nil {
			t.Fatal(err)
		}
		day := time.Date(2025, 6, 3, 0, 0, 0, 0, time.UTC)
		if got.Version != 2 || !got.Created.Equal(day) || !got.LastUpdated.Equal(day) || got.CmpID != 880 ||
			got.CmpVersion != 0 || got.ConsentLanguage != "EN" || got.VendorListVersion != 48 ||
			got.PolicyVersion != 2 || !got.IsServiceSpecific || got.PublisherCountryCode != "DE" ||
			len(got.PurposeConsents) != 0 {
			t.Errorf("core fields: %+v", got)
		}
		if !reflect.DeepEqual(got.VendorConsents, []int{1, 2, 3, 4}) {
			t.Errorf("vendor consents %v", got.VendorConsents)
		}
		if !reflect.DeepEqual(got.VendorsDisclosed, []int{1, 2, 3, 4, 5, 100, 404}) {
			t.Errorf("vendors disclosed %v", got.VendorsDisclosed)
		}
		// Well formed, yet below the policy-version floor: decoding and
		// policy validation are separate layers.
		if p := got.Problems(); len(p) != 1 || !strings.Contains(p[0], "policy version") {
			t.Errorf("problems %q, want exactly the policy-version one", p)
		}
	})
	t.Run("real-world string", func(t *testing.T) {
		got, err := Decode("CLcVDxRMWfGmWAVAHCENAXCkAKDAADnAABRgA5mdfCKZuYJez-NQm0TBMYA4oCAAGQYIAAAAAAEAIAEgAA.argAC0gAAAAAAAAAAAA")
		if err != nil {
			t.Fatal(err)
		}
		if got.CmpID != 21 || got.CmpVersion != 7 || got.ConsentScreen != 2 || got.ConsentLanguage != "EN" ||
			got.VendorListVersion != 23 || got.PublisherCountryCode != "KM" ||
			!got.Created.Equal(time.Date(2008, 12, 7, 10, 4, 17, 700e6, time.UTC)) ||
			!got.LastUpdated.Equal(time.Date(2012, 1, 10, 17, 10, 13, 400e6, time.UTC)) {
			t.Errorf("core fields: %+v", got)
		}
		if !reflect.DeepEqual(got.PurposeConsents, []int{1, 3, 9, 10}) || !reflect.DeepEqual(got.SpecialFeatureOptIns, []int{2}) {
			t.Errorf("purposes %v, special features %v", got.PurposeConsents, got.SpecialFeatureOptIns)
		}
		if len(got.VendorConsents) != 56 {
			t.Errorf("%d vendor consents, want 56", len(got.VendorConsents))
		}
		if !reflect.DeepEqual(got.PublisherConsents, []int{2, 4, 6, 8, 9, 10}) {
			t.Errorf("publisher consents %v", got.PublisherConsents)
		}
	})
}

func TestDecodeRefusesBadInput(t *testing.T) {
	good := loadGolden(t)[0].TCString
	core, _, _ := strings.Cut(good, ".")
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"not base64", "C$$$"},
		{"truncated core", core[:20]},
		{"version 1", "BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA"},
		{"unknown segment type", core + ".4AAAA"},
		{"duplicate segment", core + ".IAAA.IAAA"},
		{"empty segment", core + ".."},
		{"too long", strings.Repeat("C", MaxLength+1)},
		{"GPP string", "DBABM~" + core},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.in)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode: %v, want ErrMalformed", err)
			}
		})
	}
}

// TestRangeEntriesBounded feeds a range that names every possible vendor
// 4,095 times: memory stays bounded and the ids are reported once.
func TestRangeEntriesBounded(t *testing.T) {
	var w bitWriter
	w.put(4095, 12)
	for i := 0; i < 4095; i++ {
		w.put(1, 1)
		w.put(1, 16)
		w.put(65535, 16)
	}
	r := w.reader()
	ids, err := r.rangeEntries(0, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 65535 || ids[0] != 1 || ids[len(ids)-1] != 65535 {
		t.Fatalf("%d ids from %d to %d", len(ids), ids[0], ids[len(ids)-1])
	}
	t.Run("above max vendor id", func(t *testing.T) {
		var w bitWriter
		w.put(1, 12)
		w.put(0, 1)
		w.put(500, 16)
		r := w.reader()
		if _, err := r.rangeEntries(400, "test"); !errors.Is(err, ErrMalformed) {
			t.Fatalf("got %v, want ErrMalformed", err)
		}
	})
}

// bitWriter builds bit strings for tests.
type bitWriter struct {
	bits []byte
}

func (w *bitWriter) put(v uint64, n int) {
	for i := n - 1; i >= 0; i-- {
		w.bits = append(w.bits, byte(v>>uint(i)&1))
	}
}

func (w *bitWriter) bytes() []byte {
	out := make([]byte, (len(w.bits)+7)/8)
	for i, b := range w.bits {
		out[i/8] |= b << uint(7-i%8)
	}
	return out
}

func FuzzDecode(f *testing.F) {
	f.Add("CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA.YAAAAAAAAAAA")
	f.Add("CLcVDxRMWfGmWAVAHCENAXCkAKDAADnAABRgA5mdfCKZuYJez-NQm0TBMYA4oCAAGQYIAAAAAAEAIAEgAA.argAC0gAAAAAAAAAAAA")
	f.Add("DBACNY~CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA~1YNN")
	f.Fuzz(func(t *testing.T, s string) {
		if tc, err := Decode(s); err == nil && tc.Version != 2 {
			t.Fatalf("accepted version %d", tc.Version)
		} else if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		if _, err := DecodeGPP(s); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
	})
}

func (w *bitWriter) reader() *bitReader {
	return &bitReader{buf: w.bytes(), n: len(w.bits)}
}
