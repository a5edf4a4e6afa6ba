// Package i18n holds gdprd's message catalogs and picks the language of a
// page. English is the reference catalog: every other language must
// translate every English message (a test enforces it), so a person never
// sees a page that switches language halfway.
//
// Messages are fmt format strings; translations may reorder arguments with
// explicit indexes (%[2]s), which is why they are plain fmt and not a
// template language.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed catalogs/*.json
var catalogFiles embed.FS

// Default is the language used when nothing the person asks for is
// available, and the catalog every other one is checked against.
const Default = "en"

// Language is one language a catalog exists for.
type Language struct {
	Tag  string // BCP 47 primary language subtag, lower case: "de"
	Name string // the language's name in itself: "Deutsch"
}

// Catalog holds the messages of every supported language. It is read-only
// after New, so one Catalog serves all goroutines.
type Catalog struct {
	langs []Language
	msgs  map[string]map[string]string
}

// New loads the embedded catalogs. The order of the languages is the order
// of the language switch: English first, then the others as listed here.
func New() (*Catalog, error) {
	c := &Catalog{msgs: map[string]map[string]string{}}
	for _, tag := range []string{"en", "de", "fr"} {
		b, err := catalogFiles.ReadFile("catalogs/" + tag + ".json")
		if err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("i18n: catalog %s: %w", tag, err)
		}
		name := m["language.name"]
		if name == "" {
			return nil, fmt.Errorf("i18n: catalog %s has no language.name", tag)
		}
		c.msgs[tag] = m
		c.langs = append(c.langs, Language{Tag: tag, Name: name})
	}
	return c, nil
}

// Languages lists the supported languages in switch order.
func (c *Catalog) Languages() []Language { return slices.Clone(c.langs) }

// Supported reports whether tag names a language with a catalog.
func (c *Catalog) Supported(tag string) bool {
	_, ok := c.msgs[tag]
	return ok
}

// Keys returns the message keys of a language, sorted; nil when the
// language is not supported. Tests use it to compare catalogs.
func (c *Catalog) Keys(tag string) []string {
	m, ok := c.msgs[tag]
	if !ok {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Negotiate picks the supported language a browser prefers from an
// Accept-Language header (RFC 9110 §12.5.4): highest weight first, ties in
// the order given, a region ("de-CH") matching its language ("de"), q=0
// meaning "not this one". Without a match it returns Default.
func (c *Catalog) Negotiate(acceptLanguage string) string {
	type choice struct {
		tag string
		q   float64
	}
	var choices []choice
	for part := range strings.SplitSeq(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(part, ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		if tag == "" {
			continue
		}
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || strings.TrimSpace(name) != "q" {
				continue
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil || v < 0 || v > 1 {
				v = 0 // a malformed weight is ignored rather than trusted
			}
			q = v
		}
		if q > 0 {
			choices = append(choices, choice{tag, q})
		}
	}
	slices.SortStableFunc(choices, func(a, b choice) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	for _, ch := range choices {
		primary, _, _ := strings.Cut(ch.tag, "-")
		if c.Supported(primary) {
			return primary
		}
	}
	return Default
}

// Localizer returns the messages of one language; an unsupported tag gets
// the default language.
func (c *Catalog) Localizer(tag string) *Localizer {
	if !c.Supported(tag) {
		tag = Default
	}
	return &Localizer{tag: tag, msgs: c.msgs[tag], fallback: c.msgs[Default]}
}

// Localizer translates messages into one language.
type Localizer struct {
	tag            string
	msgs, fallback map[string]string
}

// Tag is the language of the localizer, for <html lang> and
// Content-Language.
func (l *Localizer) Tag() string { return l.tag }

// T formats the message key with args. A key missing from the language
// falls back to English, and a key missing there shows itself, so a gap is
// visible in review rather than an empty string.
func (l *Localizer) T(key string, args ...any) string {
	msg, ok := l.msgs[key]
	if !ok {
		msg, ok = l.fallback[key]
	}
	if !ok {
		return key
	}
	if len(args) == 0 {
		return msg
	}
	return fmt.Sprintf(msg, args...)
}

// Lookup returns the message key of this language only, without fallback
// or formatting.
func (l *Localizer) Lookup(key string) (string, bool) {
	msg, ok := l.msgs[key]
	return msg, ok
}

// Date formats the calendar day of t (in UTC, as notices take effect on a
// day for everyone) in the language's long form: "2 March 2026",
// "2. März 2026".
func (l *Localizer) Date(t time.Time) string {
	t = t.UTC()
	return l.T("date.long", t.Day(), l.T("month."+strconv.Itoa(int(t.Month()))), t.Year())
}
