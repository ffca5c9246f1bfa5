package httpapi_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// webClient is a browser-like client: a cookie jar, redirects not followed.
func webClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetch(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signIn runs the code flow up to the provider's redirect back, returning the callback URL.
func (e *testEnv) signInUntilCallback(t *testing.T, c *http.Client, person string) string {
	t.Helper()
	resp, _ := fetch(t, c, e.url+"/login")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("/login: %d", resp.StatusCode)
	}
	auth, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := auth.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("authorization request without PKCE, nonce or state: %s", auth)
	}
	form := url.Values{}
	for k, v := range q {
		form[k] = v
	}
	form.Set("person", person)
	r, err := c.PostForm(auth.Scheme+"://"+auth.Host+"/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("identity provider: %d", r.StatusCode)
	}
	return r.Header.Get("Location")
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "dcc_session" {
			return c
		}
	}
	return nil
}

// TestWebSignIn: the code flow sets an HttpOnly, SameSite session cookie; a forged state, a
// replayed code, a tampered cookie and a sign-out without the form's token all fail safe.
func TestWebSignIn(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{citizens: true})
	c := webClient(t)
	callback := e.signInUntilCallback(t, c, tolvan)

	// A forged state is refused and starts no session.
	forged, _ := url.Parse(callback)
	fq := forged.Query()
	fq.Set("state", "forged")
	forged.RawQuery = fq.Encode()
	resp, _ := fetch(t, c, forged.String())
	if loc := resp.Header.Get("Location"); loc != "/?error=state" || sessionCookie(resp) != nil && sessionCookie(resp).Value != "" {
		t.Fatalf("forged state: %d %s", resp.StatusCode, loc)
	}

	// The login cookie was cleared by the failure: sign in again, properly.
	callback = e.signInUntilCallback(t, c, tolvan)
	resp, _ = fetch(t, c, callback)
	ck := sessionCookie(resp)
	if resp.StatusCode != http.StatusSeeOther || ck == nil || ck.Value == "" {
		t.Fatalf("callback: %d, session cookie %v", resp.StatusCode, ck)
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure {
		t.Fatalf("session cookie HttpOnly %v SameSite %v Secure %v; want HttpOnly, Lax, not Secure over plain HTTP", ck.HttpOnly, ck.SameSite, ck.Secure)
	}
	if strings.Contains(ck.Value, tolvan) {
		t.Fatal("the session cookie carries the personnummer in clear")
	}
	_, body := fetch(t, c, e.url+"/")
	if !strings.Contains(body, "Tolvan Tolvansson") || !strings.Contains(body, `id="signout"`) {
		t.Fatalf("signed-in page:\n%s", body)
	}

	// The code is single use.
	other := webClient(t)
	resp, _ = fetch(t, other, callback)
	if sessionCookie(resp) != nil && sessionCookie(resp).Value != "" {
		t.Fatal("a used code (from another browser) started a session")
	}

	// A tampered session cookie is no session.
	u, _ := url.Parse(e.url)
	tampered := *ck
	tampered.Value = ck.Value[:len(ck.Value)-2] + "AA"
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(u, []*http.Cookie{&tampered})
	_, body = fetch(t, &http.Client{Jar: jar}, e.url+"/")
	if strings.Contains(body, `id="signout"`) {
		t.Fatal("a tampered session cookie was accepted")
	}

	// Sign-out needs the form's token; with it, the session ends.
	r, err := c.PostForm(e.url+"/logout", url.Values{"csrf": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if _, body = fetch(t, c, e.url+"/"); !strings.Contains(body, `id="signout"`) {
		t.Fatal("a sign-out without the form's token ended the session")
	}
	csrf := body[strings.Index(body, `name="csrf" value="`)+len(`name="csrf" value="`):]
	csrf = csrf[:strings.Index(csrf, `"`)]
	r, err = c.PostForm(e.url+"/logout", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if _, body = fetch(t, c, e.url+"/"); strings.Contains(body, `id="signout"`) || !strings.Contains(body, `id="signin"`) {
		t.Fatal("still signed in after signing out")
	}
}
