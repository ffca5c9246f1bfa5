package pkcs11

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"math/big"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veraison/go-cose"

	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/pkcs11/softhsm"
	"github.com/sedcc/dcc/signing/trust"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func openToken(t *testing.T, tk softhsm.Token, clock *fakeClock, sessions int) *Token {
	t.Helper()
	tok, err := Open(Config{Module: tk.Module, Token: tk.Label, PIN: tk.PIN, Sessions: sessions, Clock: clock.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = tok.Close() })
	return tok
}

func signDigest(t *testing.T, k *Key) error {
	t.Helper()
	d := sha256.Sum256([]byte("probe"))
	sig, err := k.Sign(nil, d[:], nil)
	if err != nil {
		return err
	}
	if !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d[:], sig) {
		t.Fatal("token signature does not verify")
	}
	return nil
}

func TestSignThroughTokenVerifies(t *testing.T) {
	tk := softhsm.NewToken(t, "dcc-test", "1234")
	clock := newClock()
	tok := openToken(t, tk, clock, 4)
	ctx := context.Background()
	key, err := tok.Generate(ctx, "dsc-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := signDigest(t, key); err != nil {
		t.Fatal(err)
	}
	dsc, err := keys.SelfSigned(key, keys.Options{Now: clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := hcert.NewSigner(key, dsc)
	if err != nil {
		t.Fatal(err)
	}
	payload := dcc.Certificate{Version: dcc.SchemaVersion, Name: dcc.Name{FamilyNameStandardised: "TEST"}, DateOfBirth: "1990-01-01",
		Test: []dcc.Test{{Disease: "840539006", Type: "LP217198-3", Device: "1232", SampleCollected: "2026-11-27T07:00:00Z",
			Result: "260415000", Centre: "Testcenter", Country: "SE", Issuer: "Test", ID: "URN:UVCI:01:SE:TEST/1#A"}}}
	hc1, err := s.Sign(hcert.Claims{Issuer: "SE", IssuedAt: clock.Now(), Expiry: clock.Now().Add(time.Hour), Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	d, err := hcert.Verify(hc1, trust.New("", dsc), clock.Now())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(d.COSE); err != nil {
		t.Fatal(err)
	}
	if len(msg.Signature) != 64 {
		t.Errorf("COSE signature of %d bytes, want 64 (fixed-width r||s)", len(msg.Signature))
	}

	// Concurrent signatures share the pool.
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			d := sha256.Sum256([]byte("concurrent"))
			sig, err := key.Sign(nil, d[:], nil)
			if err == nil && !ecdsa.VerifyASN1(key.Public().(*ecdsa.PublicKey), d[:], sig) {
				err = errors.New("bad signature")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestWrongPIN(t *testing.T) {
	tk := softhsm.NewToken(t, "dcc-test", "1234")
	_, err := Open(Config{Module: tk.Module, Token: tk.Label, PIN: "9999"})
	if !errors.Is(err, ErrPIN) {
		t.Fatalf("Open with a wrong PIN: %v, want ErrPIN", err)
	}
	if !strings.Contains(err.Error(), "PIN rejected") || !strings.Contains(err.Error(), "CKR_PIN_INCORRECT") {
		t.Errorf("error %q does not say the PIN was rejected", err)
	}
}

func TestMissingTokenAndModule(t *testing.T) {
	tk := softhsm.NewToken(t, "dcc-test", "1234")
	_, err := Open(Config{Module: tk.Module, Token: "no-such-token", PIN: tk.PIN})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), `token "no-such-token" not found`) {
		t.Fatalf("Open of a missing token: %v", err)
	}
	_, err = Open(Config{Module: "/nonexistent/libpkcs11.so", Token: tk.Label, PIN: tk.PIN})
	if err == nil || !strings.Contains(err.Error(), "cannot load module") {
		t.Fatalf("Open of a missing module: %v", err)
	}
}

func TestRecoversLostSessions(t *testing.T) {
	tk := softhsm.NewToken(t, "dcc-test", "1234")
	clock := newClock()
	tok := openToken(t, tk, clock, 2)
	key, err := tok.Generate(context.Background(), "dsc-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := signDigest(t, key); err != nil {
		t.Fatal(err)
	}
	// The token drops every session: the next signature reconnects by itself.
	if err := tk.CloseAllSessions(); err != nil {
		t.Fatal(err)
	}
	if err := signDigest(t, key); err != nil {
		t.Fatalf("sign after lost sessions: %v", err)
	}
	// The library is finalised and initialised again under the signer (logged out, handles gone).
	if err := tk.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := signDigest(t, key); err != nil {
		t.Fatalf("sign after a library reset: %v", err)
	}
}

func TestRemovedTokenRecovers(t *testing.T) {
	tk := softhsm.NewToken(t, "dcc-test", "1234")
	clock := newClock()
	tok := openToken(t, tk, clock, 2)
	key, err := tok.Generate(context.Background(), "dsc-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := signDigest(t, key); err != nil {
		t.Fatal(err)
	}
	// Remove the token: its files go away and the library rescans.
	away := tk.Dir + ".away"
	if err := os.Rename(tk.Dir, away); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(tk.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := tk.Reset(); err != nil {
		t.Fatal(err)
	}
	err = signDigest(t, key)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("sign with the token removed: %v, want ErrUnavailable naming the missing token", err)
	}
	if err := tok.Check(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Check with the token removed: %v", err)
	}
	// Put it back: once the retry interval has passed, signing works again without a restart.
	if err := os.Remove(tk.Dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(away, tk.Dir); err != nil {
		t.Fatal(err)
	}
	if err := signDigest(t, key); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("sign within the retry interval: %v, want the remembered failure", err)
	}
	clock.Advance(2 * time.Second)
	if err := signDigest(t, key); err != nil {
		t.Fatalf("sign after the token came back: %v", err)
	}
	if err := tok.Check(context.Background()); err != nil {
		t.Fatalf("Check after the token came back: %v", err)
	}
}

func TestPoolExhaustedIsUnavailable(t *testing.T) {
	tk := softhsm.NewToken(t, "dcc-test", "1234")
	clock := newClock()
	tok, err := Open(Config{Module: tk.Module, Token: tk.Label, PIN: tk.PIN, Sessions: 1, Wait: 50 * time.Millisecond, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	key, err := tok.Generate(context.Background(), "dsc-1")
	if err != nil {
		t.Fatal(err)
	}
	s, err := tok.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = signDigest(t, key)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no free session") {
		t.Fatalf("sign with every session busy: %v", err)
	}
	tok.release(s, false)
	if err := signDigest(t, key); err != nil {
		t.Fatal(err)
	}
}

func TestTokenThatDoesNotAnswer(t *testing.T) {
	tk := softhsm.NewToken(t, "dcc-test", "1234")
	clock := newClock()
	tok, err := Open(Config{Module: tk.Module, Token: tk.Label, PIN: tk.PIN, Sessions: 1, Timeout: 50 * time.Millisecond, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	hang := make(chan struct{})
	err = tok.withSession(context.Background(), func(session) error { <-hang; return nil })
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("a call that hangs: %v", err)
	}
	close(hang)
	// The hung session is discarded when its call returns; the pool serves again.
	if err := tok.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestRetireKeepsCertificate(t *testing.T) {
	tk := softhsm.NewToken(t, "dcc-test", "1234")
	clock := newClock()
	tok := openToken(t, tk, clock, 2)
	ctx := context.Background()
	key, err := tok.Generate(ctx, "dsc-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Generate(ctx, "dsc-1"); err == nil {
		t.Fatal("a second key under the same label was accepted")
	}
	dsc, err := keys.SelfSigned(key, keys.Options{Now: clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	other, err := tok.Generate(ctx, "dsc-2")
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.ImportCertificate(ctx, "dsc-2", dsc); err == nil {
		t.Fatal("a DSC of another key was imported")
	}
	_ = other
	if err := tok.ImportCertificate(ctx, "dsc-1", dsc); err != nil {
		t.Fatal(err)
	}
	got, err := tok.Certificate(ctx, "dsc-1")
	if err != nil || !got.Equal(dsc) {
		t.Fatalf("Certificate: %v", err)
	}
	if err := tok.Retire(ctx, "dsc-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Key(ctx, "dsc-1"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Key after retirement: %v", err)
	}
	if err := signDigest(t, key); err == nil {
		t.Fatal("a retired key still signs")
	}
	list, err := tok.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"dsc-1": false, "dsc-2": true}
	if len(list) != 2 {
		t.Fatalf("List: %+v", list)
	}
	for _, e := range list {
		if e.PrivateKey != want[e.Label] {
			t.Errorf("%s: private key %v", e.Label, e.PrivateKey)
		}
		if (e.Certificate != nil) != (e.Label == "dsc-1") {
			t.Errorf("%s: certificate %v", e.Label, e.Certificate != nil)
		}
	}
}

func TestCachedHandlesFollowReconnection(t *testing.T) {
	tk := softhsm.NewToken(t, "dcc-test", "1234")
	tok := openToken(t, tk, newClock(), 2)
	ctx := context.Background()
	a, err := tok.Generate(ctx, "dsc-a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := tok.Generate(ctx, "dsc-b")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*Key{a, b} {
		if err := signDigest(t, k); err != nil {
			t.Fatal(err)
		}
	}
	// A library reset renumbers sessions and objects: the handles cached for a and b are stale,
	// and the number a had may now be another object's. Each key is found again and signs with its
	// own private key (signDigest verifies against the key's public half).
	for range 3 {
		if err := tk.Reset(); err != nil {
			t.Fatal(err)
		}
		for _, k := range []*Key{b, a} {
			if err := signDigest(t, k); err != nil {
				t.Fatalf("sign with %s after a reset: %v", k.Label(), err)
			}
		}
	}
}

func TestReinitialisedTokenWithAnotherKeyIsRefused(t *testing.T) {
	tk := softhsm.NewToken(t, "dcc-test", "1234")
	tok := openToken(t, tk, newClock(), 2)
	ctx := context.Background()
	old, err := tok.Generate(ctx, "dsc-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := signDigest(t, old); err != nil {
		t.Fatal(err)
	}
	// The token is wiped and initialised again under the same label, and a new key pair is made
	// under the old key's label: the signer reconnects by itself but must not sign with a key its
	// DSC does not name.
	if err := tk.Reinit(); err != nil {
		t.Fatal(err)
	}
	fresh, err := tok.Generate(ctx, "dsc-1")
	if err != nil {
		t.Fatalf("generate after re-initialisation: %v", err)
	}
	d := sha256.Sum256([]byte("probe"))
	_, err = old.Sign(nil, d[:], nil)
	if !errors.Is(err, ErrKeyChanged) || !strings.Contains(err.Error(), `key "dsc-1"`) {
		t.Fatalf("sign with a key replaced under its label: %v, want ErrKeyChanged", err)
	}
	if err := signDigest(t, fresh); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	if _, err := old.Sign(nil, d[:], nil); !errors.Is(err, ErrKeyChanged) {
		t.Fatalf("second attempt with the replaced key: %v", err)
	}
}

func TestDERSignatureMatchesEncodingASN1(t *testing.T) {
	cases := [][2][]byte{
		{bytes.Repeat([]byte{0}, 32), bytes.Repeat([]byte{0}, 32)},
		{bytes.Repeat([]byte{0xff}, 32), bytes.Repeat([]byte{0x7f}, 32)},
		{append(make([]byte, 31), 1), append([]byte{0x80}, make([]byte, 31)...)},
		{append([]byte{0, 0, 0x80}, make([]byte, 29)...), append([]byte{0, 0x7f}, make([]byte, 30)...)},
	}
	for range 200 {
		var r, s [32]byte
		_, _ = rand.Read(r[:])
		_, _ = rand.Read(s[:])
		cases = append(cases, [2][]byte{r[:], s[:]})
	}
	for _, c := range cases {
		want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(c[0]), new(big.Int).SetBytes(c[1])})
		if err != nil {
			t.Fatal(err)
		}
		if got := derSignature(c[0], c[1]); !bytes.Equal(got, want) {
			t.Fatalf("derSignature(%x, %x) = %x, want %x", c[0], c[1], got, want)
		}
	}
}
