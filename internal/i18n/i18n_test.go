package i18n

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"
)

func newCatalog(t *testing.T) *Catalog {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCatalogsComplete holds every language to the English catalog: the
// same keys, no more, no fewer, and no empty message.
func TestCatalogsComplete(t *testing.T) {
	c := newCatalog(t)
	want := c.Keys(Default)
	if len(want) < 50 {
		t.Fatalf("English catalog has %d keys; it did not load", len(want))
	}
	for _, l := range c.Languages() {
		t.Run(l.Tag, func(t *testing.T) {
			got := c.Keys(l.Tag)
			for _, k := range want {
				if _, ok := slices.BinarySearch(got, k); !ok {
					t.Errorf("missing %q", k)
				}
			}
			for _, k := range got {
				if _, ok := slices.BinarySearch(want, k); !ok {
					t.Errorf("%q is not in the English catalog", k)
				}
				if msg, _ := c.Localizer(l.Tag).Lookup(k); msg == "" {
					t.Errorf("%q is empty", k)
				}
			}
		})
	}
}

var verbPattern = regexp.MustCompile(`%(?:\[(\d+)\])?[-+# 0]*\d*(?:\.\d+)?([a-zA-Z%])`)

// verbs lists the arguments a format string uses as "index:verb", sorted,
// so that "%[2]s … %[1]d" and "%d … %s" compare equal when they consume the
// same arguments the same way.
func verbs(t *testing.T, format string) []string {
	t.Helper()
	var out []string
	next := 1
	for _, m := range verbPattern.FindAllStringSubmatch(format, -1) {
		if m[2] == "%" {
			continue
		}
		i := next
		if m[1] != "" {
			n, err := strconv.Atoi(m[1])
			if err != nil {
				t.Fatal(err)
			}
			i = n
		}
		next = i + 1
		out = append(out, fmt.Sprintf("%d:%s", i, m[2]))
	}
	slices.Sort(out)
	return out
}

// TestTranslationsKeepArguments catches a translation that drops, adds or
// retypes a format argument, which would print %!d(MISSING) to people.
func TestTranslationsKeepArguments(t *testing.T) {
	c := newCatalog(t)
	en := c.Localizer(Default)
	for _, l := range c.Languages() {
		loc := c.Localizer(l.Tag)
		for _, k := range c.Keys(l.Tag) {
			t.Run(l.Tag+"/"+k, func(t *testing.T) {
				want, _ := en.Lookup(k)
				got, _ := loc.Lookup(k)
				if w, g := verbs(t, want), verbs(t, got); !slices.Equal(w, g) {
					t.Errorf("arguments %v, English has %v", g, w)
				}
			})
		}
	}
}

func TestVerbs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"plain", nil},
		{"Version %d", []string{"1:d"}},
		{"%[2]s then %[1]d", []string{"1:d", "2:s"}},
		{"%d of %s, 100%%", []string{"1:d", "2:s"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := verbs(t, tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("verbs(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	c := newCatalog(t)
	tests := []struct {
		header, want string
	}{
		{"", "en"},
		{"de", "de"},
		{"de-CH", "de"},
		{"DE-at", "de"},
		{"fr-FR,fr;q=0.9,en;q=0.8", "fr"},
		{"en;q=0.5, de;q=0.9", "de"},
		{"it, de;q=0.2, en;q=0.1", "de"},
		{"de;q=0, fr", "fr"},
		{"de;q=0", "en"},
		{"*", "en"},
		{"ja, zh-Hant", "en"},
		{"de;q=abc, fr;q=0.5", "fr"},
		{"de;q=2, fr;q=0.5", "fr"},
		{" , ;q=1, de", "de"},
		{"en-GB, de", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			if got := c.Negotiate(tt.header); got != tt.want {
				t.Errorf("Negotiate(%q) = %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}

func TestLocalizer(t *testing.T) {
	c := newCatalog(t)
	day := time.Date(2026, time.March, 2, 23, 30, 0, 0, time.FixedZone("UTC-2", -2*3600))
	tests := []struct {
		tag, wantTag, date, version string
	}{
		{"en", "en", "3 March 2026", "Version 7"},
		{"de", "de", "3. März 2026", "Version 7"},
		{"fr", "fr", "3 mars 2026", "Version 7"},
		{"xx", "en", "3 March 2026", "Version 7"},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			l := c.Localizer(tt.tag)
			if l.Tag() != tt.wantTag {
				t.Errorf("Tag() = %q, want %q", l.Tag(), tt.wantTag)
			}
			if got := l.Date(day); got != tt.date {
				t.Errorf("Date = %q, want %q", got, tt.date)
			}
			if got := l.T("policy.version", 7); got != tt.version {
				t.Errorf("T(policy.version, 7) = %q, want %q", got, tt.version)
			}
			if got := l.T("no.such.key"); got != "no.such.key" {
				t.Errorf("missing key rendered %q, want the key itself", got)
			}
		})
	}
}

func TestLanguagesInSwitchOrder(t *testing.T) {
	c := newCatalog(t)
	var tags []string
	for _, l := range c.Languages() {
		tags = append(tags, l.Tag)
	}
	if want := []string{"en", "de", "fr"}; !slices.Equal(tags, want) {
		t.Fatalf("languages %v, want %v", tags, want)
	}
	c.Languages()[0].Tag = "changed"
	if c.Languages()[0].Tag != "en" {
		t.Fatal("Languages returned the catalog's own slice")
	}
}
