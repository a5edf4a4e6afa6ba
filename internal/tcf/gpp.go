package tcf

import (
	"fmt"
	"strings"
)

// GPP is a decoded Global Privacy Platform string: a header naming the
// sections, then one section per id in the same order. Sections gdprd
// understands are decoded; the others are kept as their raw text, which
// is still evidence of what the CMP stored.
type GPP struct {
	Version  int       `json:"version"`
	Sections []Section `json:"sections"`
}

// Section is one discrete GPP section.
type Section struct {
	ID        int        `json:"id"`
	Name      string     `json:"name"`
	Raw       string     `json:"raw"`
	TCF       *TCString  `json:"tcf,omitempty"`        // section 2, tcfeuv2
	USPrivacy *USPrivacy `json:"us_privacy,omitempty"` // section 6, uspv1
}

// USPrivacy is the four-character US Privacy string (GPP section 6).
type USPrivacy struct {
	Version     int    `json:"version"`
	Notice      string `json:"notice"`       // Y, N or - (not applicable)
	OptOutSale  string `json:"opt_out_sale"` // Y, N or -
	LSPACovered string `json:"lspa_covered"` // Y, N or -
}

// sectionNames are the client-side API prefixes of the registered section
// ids (GPP "Section Information").
var sectionNames = map[int]string{
	1: "tcfeuv1", 2: "tcfeuv2", 4: "gppsignalintegrity", 5: "tcfcav1", 6: "uspv1",
	7: "usnat", 8: "usca", 9: "usva", 10: "usco", 11: "usut", 12: "usct",
}

// IsGPP reports whether s looks like a GPP string rather than a bare TC
// string: a GPP header starts with type 3 ("D"), a TC string with
// version 2 ("C").
func IsGPP(s string) bool { return strings.HasPrefix(s, "D") }

// DecodeGPP parses a GPP string. Every error wraps ErrMalformed.
func DecodeGPP(s string) (*GPP, error) {
	if len(s) > MaxLength {
		return nil, malformed("longer than %d characters", MaxLength)
	}
	parts := strings.Split(s, "~")
	r, err := newBitReader(parts[0])
	if err != nil {
		return nil, err
	}
	typ, err := r.int(6, "Type")
	if err != nil {
		return nil, err
	}
	if typ != 3 {
		return nil, malformed("header type %d, want 3", typ)
	}
	g := &GPP{}
	if g.Version, err = r.int(6, "Version"); err != nil {
		return nil, err
	}
	if g.Version != 1 {
		return nil, malformed("GPP version %d is not supported", g.Version)
	}
	ids, err := r.fibonacciRange("SectionIds")
	if err != nil {
		return nil, err
	}
	if len(ids) != len(parts)-1 {
		return nil, malformed("header names %d sections, string has %d", len(ids), len(parts)-1)
	}
	for i, id := range ids {
		sec := Section{ID: id, Name: sectionNames[id], Raw: parts[i+1]}
		if sec.Name == "" {
			sec.Name = fmt.Sprintf("section%d", id)
		}
		switch id {
		case 2:
			if sec.TCF, err = Decode(sec.Raw); err != nil {
				return nil, fmt.Errorf("section tcfeuv2: %w", err)
			}
		case 6:
			if sec.USPrivacy, err = decodeUSPrivacy(sec.Raw); err != nil {
				return nil, err
			}
		}
		g.Sections = append(g.Sections, sec)
	}
	return g, nil
}

// fibonacciRange reads NumEntries(12) × {IsARange(1), offset(Fibonacci),
// [length(Fibonacci)]}: each id is an offset from the last one seen, and a
// group covers start…start+length. Section ids must strictly increase.
func (r *bitReader) fibonacciRange(field string) ([]int, error) {
	n, err := r.int(12, field)
	if err != nil {
		return nil, err
	}
	var ids []int
	last := 0
	for i := 0; i < n; i++ {
		isRange, err := r.bool(field)
		if err != nil {
			return nil, err
		}
		off, err := r.fibonacci(field)
		if err != nil {
			return nil, err
		}
		start := last + off
		end := start
		if isRange {
			length, err := r.fibonacci(field)
			if err != nil {
				return nil, err
			}
			end = start + length
		}
		if end-start > 64 || start > 1<<16 {
			return nil, malformed("%s: implausible section range %d-%d", field, start, end)
		}
		for id := start; id <= end; id++ {
			ids = append(ids, id)
		}
		last = end
	}
	return ids, nil
}

func decodeUSPrivacy(s string) (*USPrivacy, error) {
	if len(s) != 4 || s[0] != '1' {
		return nil, malformed("us privacy string %q: want version 1 and three flags", s)
	}
	flag := func(c byte) (string, error) {
		switch c {
		case 'Y', 'N', '-':
			return string(c), nil
		case 'y', 'n':
			return strings.ToUpper(string(c)), nil
		}
		return "", malformed("us privacy flag %q: want Y, N or -", c)
	}
	u := &USPrivacy{Version: 1}
	var err error
	for i, dst := range []*string{&u.Notice, &u.OptOutSale, &u.LSPACovered} {
		if *dst, err = flag(s[i+1]); err != nil {
			return nil, err
		}
	}
	return u, nil
}
