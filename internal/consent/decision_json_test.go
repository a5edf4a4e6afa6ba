package consent

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestDecisionAppendJSON(t *testing.T) {
	since := time.Date(2026, 2, 3, 4, 5, 6, 789000, time.UTC)
	round := time.Date(2026, 2, 3, 4, 5, 0, 0, time.UTC)
	tests := []Decision{
		{},
		{Allowed: true, Basis: Consent, Since: &since, Reason: "granted", RecordID: "cr_abc"},
		{Allowed: false, Basis: LegitimateInterest, Since: &round, Reason: "objected", RecordID: "cr_x"},
		{Allowed: false, Reason: "restricted"},
		{Allowed: true, Basis: "we\"ird\\<&>\n\x01", Reason: "legal-basis"},
	}
	for _, d := range tests {
		want, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("AppendJSON:\n got %s\nwant %s", got, want)
		}
	}
}
