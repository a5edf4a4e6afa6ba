package uitest

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Fill types value into the form field matching a CSS selector, as a
// person would (key events), replacing what was there.
func (tab *Tab) Fill(t testing.TB, selector, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Clear(chromedp.CSS(selector)), chromedp.SendKeys(chromedp.CSS(selector), value)); err != nil {
		t.Fatalf("fill %s: %v", selector, err)
	}
}

// Location returns the address of the page open in the tab.
func (tab *Tab) Location(t testing.TB) string {
	t.Helper()
	return eval[string](t, tab, `location.href`)
}

// ImageLoaded reports whether the first image matching a CSS selector
// was loaded and decoded (its natural width is not 0).
func (tab *Tab) ImageLoaded(t testing.TB, selector string) bool {
	t.Helper()
	return eval[bool](t, tab, `(() => { const i = document.querySelector(`+jsString(selector)+`); return !!i && i.complete && i.naturalWidth > 0; })()`)
}

func jsString(s string) string {
	b := []byte{'"'}
	for _, r := range s {
		switch r {
		case '"', '\\':
			b = append(b, '\\', byte(r))
		default:
			b = append(b, string(r)...)
		}
	}
	return string(append(b, '"'))
}
