package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/sedcc/dcc/issuer/httpapi/browsertest"
)

// TestQueueWaitingPageInBrowser: in headless Chromium with script execution switched off, a
// visitor past the rate sees the waiting page, and without touching anything is let in at their
// turn: the page reloads itself.
func TestQueueWaitingPageInBrowser(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{citizens: true, clock: time.Now, queueRate: 0.5, queueBurst: 1})
	getWith(t, webClient(t), e.url+"/") // the first visitor takes the burst

	ctx := browsertest.Start(t, browsertest.Options{Width: 390, Height: 844, Timeout: 30 * time.Second})
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/?lang=en"), chromedp.WaitVisible(chromedp.CSS("#queue-position"))); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	shown := time.Now()
	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil || !strings.Contains(title, "You are in the queue") {
		t.Fatalf("heading %q: %v", title, err)
	}
	pos, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#queue-position")))
	if err != nil || strings.TrimSpace(pos) != "1" {
		t.Fatalf("position %q: %v", pos, err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#signin"))); err != nil {
		t.Fatalf("the waiting page did not let the visitor in by itself: %v", err)
	}
	if waited := time.Since(shown); waited > 10*time.Second {
		t.Errorf("let in %s after the waiting page, for a 2-second wait", waited)
	}
}
