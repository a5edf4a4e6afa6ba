package tcf

import (
	"errors"
	"reflect"
	"testing"
)

func TestFibonacci(t *testing.T) {
	// The code words of the GPP specification's table.
	tests := []struct {
		bits string
		want int
	}{
		{"11", 1}, {"011", 2}, {"0011", 3}, {"1011", 4}, {"00011", 5}, {"10011", 6}, {"01011", 7},
	}
	for _, tt := range tests {
		t.Run(tt.bits, func(t *testing.T) {
			var w bitWriter
			for _, c := range tt.bits {
				w.put(uint64(c-'0'), 1)
			}
			got, err := w.reader().fibonacci("test")
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestDecodeGPP(t *testing.T) {
	tc := "CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA"
	tests := []struct {
		name string
		in   string
		ids  []int
		usp  *USPrivacy
	}{
		// Header examples 1 and 2 of the GPP specification with sections.
		{"spec example 1", "DBABM~" + tc, []int{2}, nil},
		{"spec example 2", "DBACNY~" + tc + "~1YNN", []int{2, 6}, &USPrivacy{1, "Y", "N", "N"}},
		// Header example 3 is a range: Canadian TCF (5) and US Privacy (6).
		{"spec example 3", "DBABjw~BAAAAAAAAAA.QA~1NYN", []int{5, 6}, &USPrivacy{1, "N", "Y", "N"}},
		// Written by @iabgpp/cmpapi 3.2.0: US Privacy plus US national.
		{"reference encoder", "DBABzw~1YNY~CAAQAAAAAABA.YA", []int{6, 7}, &USPrivacy{1, "Y", "N", "Y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := DecodeGPP(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int
			var usp *USPrivacy
			for _, s := range g.Sections {
				ids = append(ids, s.ID)
				if s.USPrivacy != nil {
					usp = s.USPrivacy
				}
				if s.ID == 2 && (s.TCF == nil || s.TCF.CmpID != 880) {
					t.Errorf("tcfeuv2 section not decoded: %+v", s.TCF)
				}
				if s.Name == "" || s.Raw == "" {
					t.Errorf("section %d without name or raw text", s.ID)
				}
			}
			if !reflect.DeepEqual(ids, tt.ids) {
				t.Errorf("section ids %v, want %v", ids, tt.ids)
			}
			if !reflect.DeepEqual(usp, tt.usp) {
				t.Errorf("us privacy %+v, want %+v", usp, tt.usp)
			}
		})
	}
}

func TestDecodeGPPRefusesBadInput(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"TC string", "CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA"},
		{"section count mismatch", "DBACNY~1YNN"},
		{"bad us privacy", "DBABzw~2YNY~CAAQAAAAAABA.YA"},
		{"bad tcf section", "DBABM~CQSb"},
		{"not base64", "D$$$~1YNN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeGPP(tt.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeGPP: %v, want ErrMalformed", err)
			}
		})
	}
}

func TestIsGPP(t *testing.T) {
	if !IsGPP("DBABM~x") || IsGPP("CQSbk4A") {
		t.Fatal("IsGPP confuses GPP and TC strings")
	}
}
