package uitest

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Eval evaluates a JavaScript expression in the tab's page (awaiting a
// promise) and decodes its value into T.
func Eval[T any](t testing.TB, tab *Tab, expr string) T {
	t.Helper()
	return eval[T](t, tab, expr)
}

// WaitFor polls a JavaScript condition until it is true, failing the test
// after 20 s.
func (tab *Tab) WaitFor(t testing.TB, cond string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("wait for %s: %v", cond, err)
	}
}

// Press sends one key (e.g. "\t" for Tab, "\r" for Enter) to the focused
// element, as a keyboard user would.
func (tab *Tab) Press(t testing.TB, key string) {
	t.Helper()
	tab.run(t, "press key", chromedp.KeyEvent(key))
}

// SendGPC makes the tab behave like a browser with Global Privacy Control
// on, for the pages it opens next: every request carries Sec-GPC: 1 and
// navigator.globalPrivacyControl is true.
func (tab *Tab) SendGPC(t testing.TB) {
	t.Helper()
	tab.run(t, "enable GPC", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		if _, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Sec-GPC": "1"}}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `Object.defineProperty(Navigator.prototype, "globalPrivacyControl", {get: () => true});`})
		return err
	}))
}

// Cookies returns the names of every cookie the browser holds for the
// given URLs, whoever set them (HttpOnly ones included).
func (tab *Tab) Cookies(t testing.TB, urls ...string) []string {
	t.Helper()
	var names []string
	tab.run(t, "read cookies", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: urls})
		if err != nil {
			return err
		}
		for _, c := range res.Cookies {
			names = append(names, c.Name)
		}
		return nil
	}))
	return names
}
