package httpapi_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer"
)

// form posts an HTML form with a session cookie (or none), without following redirects.
func (e *testEnv) form(path, session string, v url.Values, header ...string) answer {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(v.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if session != "" {
		req.AddCookie(&http.Cookie{Name: "dcc_support", Value: session})
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: body}
}

func TestSupportPage(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{})
	_, admin := e.addPrincipal("Support Admin", issuer.RoleSupportAdmin)
	if a := e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.NAAT, fhirtest.Now(e.now)), "X-Request-ID", "page-1"); a.status != 200 {
		t.Fatalf("fixture: %d %s", a.status, a.body)
	}

	t.Run("security headers and languages", func(t *testing.T) {
		a := e.do(http.MethodGet, "/support", "", nil, "Accept-Language", "en-GB,en;q=0.8")
		csp := a.header.Get("Content-Security-Policy")
		if a.status != 200 || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") ||
			strings.Contains(csp, "unsafe-inline") || a.header.Get("Cache-Control") != "no-store" {
			t.Errorf("sign-in page %d, CSP %q, Cache-Control %q", a.status, csp, a.header.Get("Cache-Control"))
		}
		if !strings.Contains(string(a.body), "Sign in") || strings.Contains(string(a.body), "<script") {
			t.Errorf("English sign-in page: %s", a.body)
		}
		if a := e.do(http.MethodGet, "/support", "", nil, "Accept-Language", "sv-SE"); !strings.Contains(string(a.body), "Logga in") {
			t.Errorf("Swedish sign-in page: %s", a.body)
		}
		if a := e.do(http.MethodGet, "/support?lang=en", "", nil, "Accept-Language", "sv-SE"); !strings.Contains(string(a.body), "Sign in") {
			t.Errorf("lang=en does not win over Accept-Language")
		}
		// Visiting the sign-in page is no failed sign-in: it never runs out.
		for i := range 40 {
			if a := e.do(http.MethodGet, "/support", "", nil); a.status != 200 {
				t.Fatalf("visit %d of the sign-in page: %d", i+1, a.status)
			}
		}
	})

	t.Run("sign-in sets a session cookie only for support keys", func(t *testing.T) {
		a := e.form("/support/session", "", url.Values{"key": {e.support}})
		if a.status != http.StatusSeeOther {
			t.Fatalf("sign-in: %d %s", a.status, a.body)
		}
		ck := a.header.Get("Set-Cookie")
		for _, want := range []string{"dcc_support=", "HttpOnly", "SameSite=Strict", "Path=/support"} {
			if !strings.Contains(ck, want) {
				t.Errorf("cookie %q lacks %s", ck, want)
			}
		}
		for who, key := range map[string]string{"provider": e.sandbox, "wrong": "dcc_x"} {
			if a := e.form("/support/session", "", url.Values{"key": {key}}); a.header.Get("Set-Cookie") != "" || a.status/100 != 4 {
				t.Errorf("%s key: %d, cookie %q", who, a.status, a.header.Get("Set-Cookie"))
			}
		}
		if a := e.form("/support/session", "", url.Values{"key": {e.support}}, "Origin", "https://evil.example"); a.status != 403 || a.header.Get("Set-Cookie") != "" {
			t.Errorf("cross-site sign-in: %d", a.status)
		}
	})

	t.Run("search with the cookie", func(t *testing.T) {
		a := e.do(http.MethodGet, "/support/search?lang=en&request_id=page-1", "", nil, "Cookie", "dcc_support="+e.support)
		if a.status != 200 || !strings.Contains(string(a.body), `<span id="count">1</span>`) {
			t.Errorf("search: %d %s", a.status, a.body)
		}
		if a := e.do(http.MethodGet, "/support/search?request_id=page-1", "", nil); a.status != 401 || !strings.Contains(string(a.body), `id="key"`) {
			t.Errorf("search without a session: %d", a.status)
		}
		if a := e.do(http.MethodGet, "/support/search?lang=en&outcome=nonsense", "", nil, "Cookie", "dcc_support="+e.support); a.status != 422 ||
			!strings.Contains(string(a.body), "audit-filter-invalid") {
			t.Errorf("bad filter: %d %s", a.status, a.body)
		}
	})

	t.Run("person search: administrators only, by form, with a reason", func(t *testing.T) {
		form := url.Values{"personnummer": {fhirtest.DefaultPNR}, "reason": {"SD-1"}, "lang": {"en"}, "environment": {"sandbox"}}
		if a := e.form("/support/person", e.support, form); a.status != 403 {
			t.Errorf("support: %d", a.status)
		}
		a := e.form("/support/person", admin, form)
		body := string(a.body)
		if a.status != 200 || !strings.Contains(body, "page-1") || strings.Contains(body, fhirtest.DefaultPNR) || strings.Contains(body, "19121212") {
			t.Errorf("admin person search: %d %s", a.status, body)
		}
		if a := e.form("/support/person", admin, url.Values{"personnummer": {fhirtest.DefaultPNR}}); a.status != 422 ||
			!strings.Contains(string(a.body), "reason-required") {
			t.Errorf("without a reason: %d", a.status)
		}
	})
}
