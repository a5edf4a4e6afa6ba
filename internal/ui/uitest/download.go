package uitest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// Download clicks the element matching selector (a link or a form button
// whose answer is an attachment), lets Chromium save what it downloads in
// a fresh directory, and returns the path of the saved file once it is
// complete. It fails the test after 60 s.
func (tab *Tab) Download(t testing.TB, selector string) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(tab.ctx, 60*time.Second)
	defer cancel()
	events := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir, EventsEnabled: &events}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Click(chromedp.CSS(selector))); err != nil {
		t.Fatalf("click %s: %v", selector, err)
	}
	for {
		entries, _ := os.ReadDir(dir)
		if len(entries) == 1 && !strings.HasSuffix(entries[0].Name(), ".crdownload") {
			return filepath.Join(dir, entries[0].Name())
		}
		select {
		case <-ctx.Done():
			t.Fatalf("download from %s did not complete", selector)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
