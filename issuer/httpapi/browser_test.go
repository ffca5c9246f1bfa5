package httpapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/httpapi/browsertest"
	"github.com/sedcc/dcc/issuer/idp"
)

var screenshotFile = flag.String("screenshot", "", "write a phone-width screenshot of a certificate's page to this PNG file (docs/citizen-page-phone.png)")

// TestCitizenPageInBrowser drives the citizens' page in headless Chromium at phone width: sign
// in through the stand-in identity provider, see the list, open a certificate, read the QR code
// shown on the page (it must decode to the HC1 the API returns), download the PDF (the API's
// bytes), switch to English, sign out.
func TestCitizenPageInBrowser(t *testing.T) {
	clock := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	e := newEnv(t, "embedded", envOptions{citizens: true, clock: func() time.Time { return clock }})
	e.now = clock
	vacc := e.issueFor(issuer.KindVaccination, tolvan, "v-browser")
	clock = clock.Add(time.Minute)
	e.now = clock
	e.issueFor(issuer.KindTest, tolvan, "t-browser")
	e.issueFor(issuer.KindTest, asa, "t-someone-else")

	// What the API says, with a token of the same person.
	tok := e.token(idp.Token{PNR: tolvan})
	api := e.do(http.MethodGet, certPath(vacc.uvci), tok, nil)
	var one struct{ HC1 string }
	if err := json.Unmarshal(api.body, &one); err != nil || one.HC1 == "" {
		t.Fatalf("API certificate: %d %s", api.status, api.body)
	}
	apiPDF := e.do(http.MethodGet, certPath(vacc.uvci)+"/pdf", tok, nil).body

	page := e.do(http.MethodGet, "/", "", nil)
	csp := page.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || strings.Contains(string(page.body), "<script") {
		t.Fatalf("page CSP %q or an inline script", csp)
	}

	ctx := browsertest.Start(t, browsertest.Options{Width: 390, Height: 844})
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	do("open the page", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
		chromedp.Navigate(e.url+"/?lang=sv"), chromedp.WaitVisible(chromedp.CSS("#signin")))
	do("sign in", chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("input[name=person]")))
	do("choose Tolvan at the identity provider", chromedp.Click(chromedp.CSS(`input[value="`+tolvan+`"]`)),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS(".certs")))

	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(".cert")))
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 {
		t.Fatalf("%d certificates listed, want Tolvan's 2", len(nodes))
	}
	if thumbs, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(".thumb img"))); err != nil || len(thumbs) != 2 {
		t.Fatalf("%d QR codes in the list, want one per certificate (%v)", len(thumbs), err)
	}
	if h1 := text("h1"); h1 != "Dina intyg" {
		t.Fatalf("heading %q", h1)
	}
	if first := text(".cert h2"); first != "Testintyg" {
		t.Fatalf("first listed %q, want the newest (the test certificate)", first)
	}

	// Open the vaccination certificate (the second, older one).
	do("open the certificate", chromedp.Click(chromedp.CSS(".cert:nth-child(2) a.open")), chromedp.WaitVisible(chromedp.CSS("#qr")))
	if h1 := text("h1"); h1 != "Vaccinationsintyg" {
		t.Fatalf("certificate page heading %q", h1)
	}
	if !strings.Contains(text(".details"), vacc.uvci) {
		t.Fatal("the certificate page does not show the UVCI")
	}
	shot, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#qr")))
	if err != nil {
		t.Fatal(err)
	}
	got, err := browsertest.DecodeQR(shot)
	if err != nil {
		t.Fatalf("the QR code on the page does not read: %v", err)
	}
	if got != one.HC1 {
		t.Fatalf("the page's QR code reads %.40q..., the API's HC1 is %.40q...", got, one.HC1)
	}
	if *screenshotFile != "" {
		full, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*screenshotFile, full, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	do("download the PDF", chromedp.Click(chromedp.CSS("#pdf")))
	var pdf []byte
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		matches, _ := filepath.Glob(filepath.Join(downloads, "*.pdf"))
		if len(matches) == 1 {
			if pdf, err = os.ReadFile(matches[0]); err == nil && len(pdf) > 0 {
				break
			}
		}
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) || !bytes.Equal(pdf, apiPDF) {
		t.Fatalf("downloaded %d bytes, want the API's %d-byte PDF", len(pdf), len(apiPDF))
	}

	do("switch to English", chromedp.Click(chromedp.CSS(`a[hreflang="en"]`)), chromedp.WaitVisible(chromedp.CSS("#qr")))
	if h1 := text("h1"); h1 != "Vaccination certificate" {
		t.Fatalf("English heading %q", h1)
	}

	certURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	do("sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#signin")))
	do("come back to the certificate", chromedp.Navigate(certURL), chromedp.WaitVisible(chromedp.CSS("#signin")))
	if n, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("#qr"), chromedp.AtLeast(0))); err != nil || len(n) != 0 {
		t.Fatalf("after signing out the certificate is still shown (%d, %v)", len(n), err)
	}
}
