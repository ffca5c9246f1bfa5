package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/httpapi"
	"github.com/sedcc/dcc/issuer/httpapi/browsertest"
)

// TestSupportPageInBrowser: support staff sign in with their key, search the log by RequestID,
// and see a refused request's codes, texts and FHIRPaths as the provider received them; the page
// speaks Swedish and English, keeps the key in an HttpOnly cookie and shows no personal data.
func TestSupportPageInBrowser(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{})
	now := fhirtest.Now(e.now)
	refused := e.post("/api/v1/observation", e.sandbox,
		fhirtest.Observation(fhirtest.NAAT, now, fhirtest.AtRaw(e.now.Add(-time.Hour).Format("2006-01-02T15:04:05"))),
		"X-Request-ID", "browser-refused-1")
	if refused.status != 422 {
		t.Fatalf("fixture: %d %s", refused.status, refused.body)
	}
	var got httpapi.OperationOutcome
	if err := json.Unmarshal(refused.body, &got); err != nil {
		t.Fatal(err)
	}
	if a := e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.NAAT, now), "X-Request-ID", "browser-issued-1"); a.status != 200 {
		t.Fatalf("fixture: %d %s", a.status, a.body)
	}

	ctx := browsertest.Start(t, browsertest.Options{Timeout: 90 * time.Second})
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// A wrong key is turned away on the sign-in page.
	do("wrong key",
		chromedp.Navigate(e.url+"/support?lang=en"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), "dcc_nosuchkeyaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
		chromedp.Submit(chromedp.CSS("#key")),
		chromedp.WaitVisible(chromedp.CSS("#error")),
	)
	if s := text("#error"); !strings.Contains(s, "not valid") {
		t.Errorf("wrong key: %q", s)
	}
	// A provider's key may not use the page.
	do("provider key",
		chromedp.SetValue(chromedp.CSS("#key"), e.sandbox),
		chromedp.Submit(chromedp.CSS("#key")),
		chromedp.WaitVisible(chromedp.CSS("#error")),
	)
	if s := text("#error"); !strings.Contains(s, "may not use") {
		t.Errorf("provider key: %q", s)
	}

	// Sign in with the support key.
	do("sign in",
		chromedp.SetValue(chromedp.CSS("#key"), e.support),
		chromedp.Submit(chromedp.CSS("#key")),
		chromedp.WaitVisible(chromedp.CSS("#request_id")),
	)
	if s := text("#who"); s != "Support Person" {
		t.Errorf("signed in as %q", s)
	}
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{e.url + "/support/search"}})
	if err != nil {
		t.Fatal(err)
	}
	var session *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == "dcc_support" {
			session = c
		}
	}
	if session == nil || !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict || session.Path != "/support" {
		t.Fatalf("session cookie %+v, want HttpOnly, SameSite=Strict, Path=/support", session)
	}
	// No script can read it (the page runs none, and the cookie is HttpOnly).
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.cookie")); err != nil || strings.Contains(v, "dcc_") {
		t.Errorf("document.cookie = %q, %v", v, err)
	}

	// Search by RequestID: the refused request, with the provider's answer.
	do("search",
		chromedp.SendKeys(chromedp.CSS("#request_id"), "browser-refused-1"),
		chromedp.Click(chromedp.CSS("#search")),
		chromedp.WaitVisible(chromedp.CSS("#count")),
	)
	if n := text("#count"); n != "1" {
		t.Fatalf("%s results for browser-refused-1, want 1", n)
	}
	if s := text("#results tbody tr.rejected .codes"); !strings.Contains(s, "timezone-missing") {
		t.Errorf("codes cell %q", s)
	}
	do("open the answer",
		chromedp.Click(chromedp.CSS("details.answer summary")),
		chromedp.WaitVisible(chromedp.CSS("details.answer table")),
	)
	answer := text("details.answer table")
	for _, is := range got.Issue {
		for _, want := range []string{is.Details.Coding[0].Code, is.Expression[0], is.Details.Text} {
			if !strings.Contains(answer, want) {
				t.Errorf("answer on the page lacks %q:\n%s", want, answer)
			}
		}
	}
	var shown httpapi.OperationOutcome
	if err := json.Unmarshal([]byte(text("details.answer pre")), &shown); err != nil {
		t.Fatalf("raw answer on the page: %v", err)
	}
	want, _ := json.Marshal(got)
	have, _ := json.Marshal(shown)
	if string(want) != string(have) {
		t.Errorf("raw answer differs from the provider's:\n page %s\n sent %s", have, want)
	}

	// The whole page: no personnummer, no birth date; the birth year of the issued request.
	do("search all", chromedp.Navigate(e.url+"/support/search?lang=en&outcome=issued"), chromedp.WaitVisible(chromedp.CSS("#count")))
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{fhirtest.DefaultPNR, "19121212", "1912-12-12"} {
		if strings.Contains(html, leak) {
			t.Errorf("page shows %q", leak)
		}
	}
	if !strings.Contains(html, ">1912<") {
		t.Error("page lacks the birth year")
	}

	// Swedish.
	do("svenska", chromedp.Click(chromedp.CSS("#lang")), chromedp.WaitVisible(chromedp.CSS("#count")))
	if h := text("h1"); h != "Supporten: sök i utfärdandeloggen" {
		t.Errorf("Swedish heading %q", h)
	}
	if s := text("label[for], form.filters"); !strings.Contains(s, "Felkod") {
		t.Errorf("Swedish filters lack their labels: %q", s)
	}

	// The searches were recorded as reads by the support person.
	support, err := e.creds.Authenticate(context.Background(), e.support)
	if err != nil {
		t.Fatal(err)
	}
	page, err := e.store.SearchAudit(context.Background(), issuer.AuditQuery{PrincipalID: support.ID, Outcome: issuer.OutcomeRead})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) < 3 {
		t.Errorf("%d reads recorded for the page's searches, want 3", len(page.Events))
	}

	// Sign out: the page asks for the key again.
	do("sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#key")))
	do("after sign-out", chromedp.Navigate(e.url+"/support/search?request_id=x"), chromedp.WaitVisible(chromedp.CSS("#key")))
}
