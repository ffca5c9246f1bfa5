// Package browsertest starts headless Chromium for the web pages' browser tests, driven with
// chromedp, and reads QR codes from what the browser shows. Debian's chromium is installed by
// .ci/deps.sh; tests call Start and get a browser context that is closed with the test.
package browsertest

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sedcc/dcc/issuer/document/qrdecode"
)

// Executables are the names Chromium is looked up under, in order.
var Executables = []string{"chromium", "chromium-browser", "google-chrome"}

// Options tune the browser.
type Options struct {
	// Width and Height of the window in CSS pixels (default 1280 x 900).
	Width, Height int
	// Timeout bounds everything the test does in the browser (default 60 s).
	Timeout time.Duration
}

// Executable finds Chromium on PATH.
func Executable() (string, error) {
	for _, name := range Executables {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH; .ci/deps.sh installs Debian's chromium")
}

// Start launches a fresh headless Chromium (its own user-data directory, no background
// networking, no sync, no first-run) and returns a context for chromedp.Run. A missing
// browser fails the test: the browser tests are part of `make test`, never skipped.
func Start(t testing.TB, o Options) context.Context {
	t.Helper()
	exe, err := Executable()
	if err != nil {
		t.Fatal(err)
	}
	if o.Width == 0 {
		o.Width, o.Height = 1280, 900
	}
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(o.Width, o.Height),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, o.Timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	// Start the browser now, so a launch failure is reported as such.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", exe, err)
	}
	return ctx
}

// DecodeQR reads the QR code in an image (a PNG, e.g. a screenshot of the element showing it)
// and returns its text: as a generated, pure barcode first, then searching the image harder.
func DecodeQR(pngData []byte) (string, error) {
	return qrdecode.Text(pngData)
}
