package status_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer/status"
	"github.com/sedcc/dcc/registry"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
)

func TestStoreProbe(t *testing.T) {
	st := openStore(t, t.TempDir())
	probe := status.StoreProbe(st)
	if l, _ := probe(t.Context()); l != status.Green {
		t.Errorf("store up: %s", l)
	}
	st.down.Store(true)
	l, msg := probe(t.Context())
	if l != status.Red || strings.Contains(msg, "refused") {
		t.Errorf("store down: %s %q (want red, without the error's text)", l, msg)
	}
}

func signer(t *testing.T, notBefore time.Time, validity time.Duration) *hcert.Signer {
	t.Helper()
	key, cert, err := keys.Generate(t.TempDir(), keys.Options{Now: notBefore, Validity: validity})
	if err != nil {
		t.Fatal(err)
	}
	s, err := hcert.NewSigner(key, cert)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// brokenSigner has a valid certificate but cannot sign (a hardware key that went away).
type brokenSigner struct{ cert *x509.Certificate }

func (b brokenSigner) SignCWT([]byte) ([]byte, error) {
	return nil, errors.New("device not responding")
}
func (b brokenSigner) Certificate() *x509.Certificate { return b.cert }

func TestSigningProbe(t *testing.T) {
	now := t0
	year := 365 * 24 * time.Hour
	good := signer(t, now.Add(-time.Hour), year)
	expiring := signer(t, now.Add(-year), year+10*24*time.Hour)
	expired := signer(t, now.Add(-2*year), year)
	future := signer(t, now.Add(time.Hour), year)
	tests := []struct {
		name    string
		signers map[string]status.KeySigner
		want    status.Light
		mention string
	}{
		{"valid", map[string]status.KeySigner{"production": good, "sandbox": good}, status.Green, ""},
		{"expiring within the warning", map[string]status.KeySigner{"production": good, "sandbox": expiring}, status.Yellow, "sandbox"},
		{"expired", map[string]status.KeySigner{"production": expired, "sandbox": good}, status.Red, "production"},
		{"not yet valid", map[string]status.KeySigner{"production": future}, status.Red, "production"},
		{"cannot sign", map[string]status.KeySigner{"production": good, "sandbox": brokenSigner{good.Certificate()}}, status.Red, "sandbox"},
		{"no certificate", map[string]status.KeySigner{"sandbox": brokenSigner{}}, status.Red, "sandbox"},
		{"no keys", nil, status.Red, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, msg := status.SigningProbe(tc.signers, func() time.Time { return now }, 0)(t.Context())
			if l != tc.want || !strings.Contains(msg, tc.mention) {
				t.Errorf("got %s %q, want %s mentioning %q", l, msg, tc.want, tc.mention)
			}
		})
	}
}

type reporter registry.State

func (r reporter) State() registry.State { return registry.State(r) }

func TestRegisterProbe(t *testing.T) {
	for state, want := range map[string]status.Light{"up": status.Green, "degraded": status.Yellow, "down": status.Red, "odd": status.Yellow} {
		l, msg := status.RegisterProbe(reporter{Status: state, Detail: "last failure timeout at 08:00"})(context.Background())
		if l != want || msg == "" || strings.Contains(msg, "timeout") {
			t.Errorf("register %s: %s %q, want %s with a message of its own", state, l, msg, want)
		}
	}
}
