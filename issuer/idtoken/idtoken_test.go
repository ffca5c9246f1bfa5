package idtoken_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer/idp"
	"github.com/sedcc/dcc/issuer/idtoken"
)

const tolvan = "191212121212"

type fixture struct {
	idp     *idp.Server
	v       *idtoken.Verifier
	fetches *atomic.Int64
	now     *time.Time
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	now := time.Now()
	clock := func() time.Time { return now }
	var fetches atomic.Int64
	var srv *idp.Server
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/jwks" {
			fetches.Add(1)
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	srv, err := idp.New(idp.Options{Issuer: ts.URL, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	v, err := idtoken.New(idtoken.Options{Issuer: ts.URL, Audience: srv.Audience(), ClientID: srv.ClientID(),
		Clock: clock, MinRefresh: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{idp: srv, v: v, fetches: &fetches, now: &now}
}

func (f fixture) mint(t testing.TB, tok idp.Token) string {
	t.Helper()
	s, err := f.idp.Mint(tok)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func reason(err error) idtoken.Reason {
	var e *idtoken.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return "not an idtoken.Error"
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := *f.now
	cases := []struct {
		name string
		tok  idp.Token
		raw  string
		want idtoken.Reason
	}{
		{name: "good", tok: idp.Token{PNR: tolvan}},
		{name: "samordningsnummer", tok: idp.Token{PNR: "199001751248"}},
		{name: "expired", tok: idp.Token{PNR: tolvan, IssuedAt: now.Add(-time.Hour), Expires: now.Add(-time.Minute)}, want: idtoken.Expired},
		{name: "expired within skew", tok: idp.Token{PNR: tolvan, IssuedAt: now.Add(-time.Hour), Expires: now.Add(-10 * time.Second)}},
		{name: "other issuer", tok: idp.Token{PNR: tolvan, Issuer: "https://evil.example"}, want: idtoken.OtherIssuer},
		{name: "other audience", tok: idp.Token{PNR: tolvan, Audience: []string{"someone-else"}}, want: idtoken.Audience},
		{name: "unknown key", tok: idp.Token{PNR: tolvan, Key: other, KID: "made-up"}, want: idtoken.UnknownKey},
		{name: "known kid, other key", tok: idp.Token{PNR: tolvan, Key: other, KID: f.idp.JWKS().Keys[0].KeyID}, want: idtoken.Signature},
		{name: "no personnummer", tok: idp.Token{}, want: idtoken.NoIdentity},
		{name: "bad checksum", tok: idp.Token{PNR: "191212121213"}, want: idtoken.NoIdentity},
		{name: "missing", raw: "-", want: idtoken.Missing},
		{name: "garbage", raw: "not.a.jwt", want: idtoken.Malformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := c.raw
			switch raw {
			case "":
				raw = f.mint(t, c.tok)
			case "-":
				raw = ""
			}
			got, err := f.v.Verify(context.Background(), raw)
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got.PNR.Digits() != c.tok.PNR {
					t.Fatalf("personnummer %s, want %s", got.PNR, c.tok.PNR)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %s", c.want)
			}
			if r := reason(err); r != c.want {
				t.Fatalf("reason %s (%v), want %s", r, err, c.want)
			}
		})
	}
}

// TestIDTokenNeedsNonceAndClient: the web sign-in's ID token is checked for its own audience
// and nonce; an access token is not an ID token.
func TestIDTokenNeedsNonceAndClient(t *testing.T) {
	f := newFixture(t)
	id := f.mint(t, idp.Token{PNR: tolvan, Audience: []string{f.idp.ClientID()}, Nonce: "n1"})
	if _, err := f.v.VerifyID(context.Background(), id, "n1"); err != nil {
		t.Fatalf("good ID token refused: %v", err)
	}
	if _, err := f.v.VerifyID(context.Background(), id, "n2"); reason(err) != idtoken.Nonce {
		t.Fatalf("other nonce: %v", err)
	}
	access := f.mint(t, idp.Token{PNR: tolvan})
	if _, err := f.v.VerifyID(context.Background(), access, "n1"); err == nil {
		t.Fatal("access token accepted as ID token")
	}
	if _, err := f.v.Verify(context.Background(), id); reason(err) != idtoken.Audience {
		t.Fatalf("ID token as bearer: %v", err)
	}
}

// TestRotationAndBoundedRefresh: a rotated key is picked up by one refetch; made-up kids do not
// make the verifier fetch the JWKS more than once per interval.
func TestRotationAndBoundedRefresh(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.v.Verify(ctx, f.mint(t, idp.Token{PNR: tolvan})); err != nil {
		t.Fatal(err)
	}
	if n := f.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for the first token, want 1", n)
	}
	for range 5 {
		if _, err := f.v.Verify(ctx, f.mint(t, idp.Token{PNR: tolvan})); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for cached keys, want 1", n)
	}
	// A minute later (the refresh interval) the provider rotates: one fetch finds the new key.
	*f.now = f.now.Add(time.Minute)
	if _, err := f.idp.Rotate(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(ctx, f.mint(t, idp.Token{PNR: tolvan})); err != nil {
		t.Fatalf("token of the rotated key: %v", err)
	}
	if n := f.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after rotation, want 2", n)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for i := range 50 {
		raw := f.mint(t, idp.Token{PNR: tolvan, Key: other, KID: "made-up-" + string(rune('a'+i%26))})
		if _, err := f.v.Verify(ctx, raw); reason(err) != idtoken.UnknownKey {
			t.Fatalf("made-up kid: %v", err)
		}
	}
	if n := f.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after 50 made-up kids within the interval, want still 2", n)
	}
	*f.now = f.now.Add(time.Minute)
	raw := f.mint(t, idp.Token{PNR: tolvan, Key: other, KID: "made-up-later"})
	if _, err := f.v.Verify(ctx, raw); reason(err) != idtoken.UnknownKey {
		t.Fatalf("made-up kid: %v", err)
	}
	if n := f.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches one interval later, want 3", n)
	}
}

// TestProviderDown: with the JWKS unreachable and nothing cached the answer is "unavailable"
// (the token may be good); with keys cached, known keys keep working.
func TestProviderDown(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.idp.SetFaults(idp.Faults{JWKSDown: true})
	if _, err := f.v.Verify(ctx, f.mint(t, idp.Token{PNR: tolvan})); reason(err) != idtoken.Unavailable {
		t.Fatalf("JWKS down, nothing cached: %v", err)
	}
	f.idp.SetFaults(idp.Faults{})
	*f.now = f.now.Add(time.Minute)
	if _, err := f.v.Verify(ctx, f.mint(t, idp.Token{PNR: tolvan})); err != nil {
		t.Fatalf("JWKS back: %v", err)
	}
	f.idp.SetFaults(idp.Faults{JWKSDown: true})
	*f.now = f.now.Add(2 * time.Hour) // the cache is stale; the refetch fails; cached keys stay
	if _, err := f.v.Verify(ctx, f.mint(t, idp.Token{PNR: tolvan})); err != nil {
		t.Fatalf("JWKS down, keys cached: %v", err)
	}
}

// TestCachedTokenStillExpires: a token verified once is remembered, but not past its expiry.
func TestCachedTokenStillExpires(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	raw := f.mint(t, idp.Token{PNR: tolvan, Expires: f.now.Add(2 * time.Minute)})
	if _, err := f.v.Verify(ctx, raw); err != nil {
		t.Fatal(err)
	}
	f.idp.SetFaults(idp.Faults{JWKSDown: true}) // a repeat needs no key
	if c, err := f.v.Verify(ctx, raw); err != nil || c.PNR.Digits() != tolvan {
		t.Fatalf("repeat: %v", err)
	}
	*f.now = f.now.Add(3 * time.Minute)
	if _, err := f.v.Verify(ctx, raw); reason(err) != idtoken.Expired {
		t.Fatalf("cached token past its expiry: %v", err)
	}
}
