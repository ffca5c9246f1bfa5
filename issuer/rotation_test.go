package issuer

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/rotation"
)

// TestRotatingSignerRecordsTheKeyThatSigned: at the moment of a switch, the kid recorded with a
// certificate is the kid in its COSE header, whatever the clock says a moment later.
func TestRotatingSignerRecordsTheKeyThatSigned(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	mk := func(name string) *hcert.Signer {
		k, err := keys.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		c, err := keys.SelfSigned(k, keys.Options{CommonName: name, Now: t0.Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		s, err := hcert.NewSigner(k, c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := mk("A"), mk("B")
	switchAt := t0.Add(time.Hour)
	now := switchAt.Add(-time.Millisecond)
	sched, err := rotation.New(func() time.Time { return now },
		rotation.Stage{DSC: a.Certificate(), Signer: a}, rotation.Stage{From: switchAt, DSC: b.Certificate(), Signer: b})
	if err != nil {
		t.Fatal(err)
	}
	h := HCertSigner{Keys: sched, Country: "SE", Clock: func() time.Time { return now }}
	payload := dcc.Certificate{Version: dcc.SchemaVersion, Name: dcc.Name{FamilyNameStandardised: "TEST"}, DateOfBirth: "1990-01-01",
		Test: []dcc.Test{{Disease: DiseaseCOVID19, Type: "LP217198-3", Device: "1232", SampleCollected: "2026-06-01T00:00:00Z",
			Result: "260415000", Centre: "Test", Country: "SE", Issuer: "Test", ID: "URN:UVCI:01:SE:DCC/TEST#1"}}}
	for _, issued := range []time.Time{switchAt.Add(-time.Second), switchAt, switchAt.Add(time.Second)} {
		hc1, err := h.Sign(payload, issued, issued.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		d, err := hcert.Decode(hc1)
		if err != nil {
			t.Fatal(err)
		}
		want := a.KID()
		if !issued.Before(switchAt) {
			want = b.KID()
		}
		if !bytes.Equal(d.KID, want) || !bytes.Equal(kidAt(h, issued), want) {
			t.Errorf("issued at %s: signed with kid %x, recorded %x, want %x", issued, d.KID, kidAt(h, issued), want)
		}
	}
	if !bytes.Equal(h.KID(), a.KID()) {
		t.Error("before the switch KID is not the old key's")
	}
}

// failingKeys is a key source whose key cannot be reached (an HSM that is gone).
type failingKeys struct{}

func (failingKeys) At(time.Time) (*hcert.Signer, error) {
	return nil, errors.New("pkcs11: token not found")
}

func TestSigningFailureIsUnavailable(t *testing.T) {
	h := HCertSigner{Keys: failingKeys{}, Country: "SE"}
	_, err := h.Sign(dcc.Certificate{}, time.Now(), time.Now().Add(time.Hour))
	if !errors.Is(err, ErrSigningUnavailable) {
		t.Fatalf("Sign with an unreachable key: %v, want ErrSigningUnavailable", err)
	}
	p, ok := problem.As(signingUnavailable(SignerHealth{Err: err, RetryAfter: time.Second}))
	if !ok || p.Class() != problem.ClassUnavailable || !p.Has(problem.CodeSigningUnavailable) || p.RetryAfter() <= 0 {
		t.Fatalf("signingUnavailable: %v", p)
	}
	if nb, na := h.Validity(); !nb.IsZero() || !na.IsZero() {
		t.Errorf("Validity without a key: %s %s", nb, na)
	}
}
