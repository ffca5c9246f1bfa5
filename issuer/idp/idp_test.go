package idp_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer/idp"
)

func newServer(t *testing.T, now *time.Time) (*idp.Server, *httptest.Server) {
	t.Helper()
	var h http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	p, err := idp.New(idp.Options{Issuer: ts.URL, Clock: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	h = p
	return p, ts
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// login posts the form and returns the code of the redirect.
func login(t *testing.T, ts *httptest.Server, redirect, challenge string) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirect.PostForm(ts.URL+"/authorize", url.Values{
		"client_id": {"dcc-web"}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"s1"}, "nonce": {"n1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
		"person": {"191212121212"},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil {
		return resp, ""
	}
	return resp, loc.Query().Get("code")
}

func challengeOf(v string) string {
	s := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

func exchange(t *testing.T, ts *httptest.Server, code, redirect, verifier string) int {
	t.Helper()
	resp, err := http.PostForm(ts.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {"dcc-web"},
		"code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestCodeFlow(t *testing.T) {
	now := time.Now()
	_, ts := newServer(t, &now)
	const redirect = "http://127.0.0.1:9/callback"
	verifier := strings.Repeat("v", 43)

	// Only loopback (or listed) redirect URIs; errors before the URI is trusted are not redirected.
	if resp, _ := login(t, ts, "https://evil.example/cb", challengeOf(verifier)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("foreign redirect_uri: %d", resp.StatusCode)
	}
	// PKCE is required.
	if resp, code := login(t, ts, redirect, ""); code != "" || !strings.Contains(resp.Header.Get("Location"), "error=invalid_request") {
		t.Fatalf("no PKCE: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, code := login(t, ts, redirect, challengeOf(verifier))
	if code == "" {
		t.Fatal("no code")
	}
	if st := exchange(t, ts, code, redirect, strings.Repeat("w", 43)); st != http.StatusBadRequest {
		t.Fatalf("wrong verifier: %d", st)
	}
	// The failed attempt used the code up.
	if st := exchange(t, ts, code, redirect, verifier); st != http.StatusBadRequest {
		t.Fatalf("code after a failed exchange: %d", st)
	}
	_, code = login(t, ts, redirect, challengeOf(verifier))
	if st := exchange(t, ts, code, "http://127.0.0.1:9/other", verifier); st != http.StatusBadRequest {
		t.Fatalf("another redirect_uri: %d", st)
	}
	_, code = login(t, ts, redirect, challengeOf(verifier))
	now = now.Add(2 * time.Minute)
	if st := exchange(t, ts, code, redirect, verifier); st != http.StatusBadRequest {
		t.Fatalf("expired code: %d", st)
	}
	_, code = login(t, ts, redirect, challengeOf(verifier))
	if st := exchange(t, ts, code, redirect, verifier); st != http.StatusOK {
		t.Fatalf("good exchange: %d", st)
	}
	if st := exchange(t, ts, code, redirect, verifier); st != http.StatusBadRequest {
		t.Fatalf("code used twice: %d", st)
	}
}

// TestRotation: after a rotation the JWKS holds the new key and, for the grace period, the
// previous one.
func TestRotation(t *testing.T) {
	now := time.Now()
	p, _ := newServer(t, &now)
	first := p.JWKS().Keys[0].KeyID
	second, err := p.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if ks := p.JWKS().Keys; len(ks) != 2 || ks[0].KeyID != first || ks[1].KeyID != second {
		t.Fatalf("after one rotation: %+v", ks)
	}
	now = now.Add(2 * idp.DefaultKeyGrace)
	third, err := p.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	// The first key, retired a grace period ago, is gone; the second was retired just now.
	if ks := p.JWKS().Keys; len(ks) != 2 || ks[0].KeyID != second || ks[1].KeyID != third {
		t.Fatalf("after the grace period: %+v", ks)
	}
}
