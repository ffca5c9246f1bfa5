package issuer

import (
	"fmt"
	"time"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/hcert"
)

// Keys gives the signer for an issuance time: the key of a rotation schedule
// (rotation.Schedule) that signs at that time.
type Keys interface {
	At(t time.Time) (*hcert.Signer, error)
}

// HCertSigner signs through the signing core with one key and DSC, or, when Keys is set, with
// the key Keys names for the issuance time (Signer is then unused).
type HCertSigner struct {
	Signer  *hcert.Signer
	Keys    Keys
	Country string           // CWT iss
	Clock   func() time.Time // the time KID and Check ask Keys about; time.Now when nil
}

func (h HCertSigner) at(t time.Time) (*hcert.Signer, error) {
	if h.Keys == nil {
		return h.Signer, nil
	}
	return h.Keys.At(t)
}

func (h HCertSigner) now() time.Time {
	if h.Clock == nil {
		return time.Now()
	}
	return h.Clock()
}

// Sign implements Signer.
func (h HCertSigner) Sign(p dcc.Certificate, issuedAt, expires time.Time) (string, error) {
	s, err := h.at(issuedAt)
	if err != nil {
		return "", err
	}
	return s.Sign(hcert.Claims{Issuer: h.Country, IssuedAt: issuedAt, Expiry: expires, Payload: p})
}

// Check implements Signer: it signs an empty CWT claims map.
func (h HCertSigner) Check() error {
	s, err := h.at(h.now())
	if err != nil {
		return err
	}
	if _, err := s.SignCWT([]byte{0xa0}); err != nil {
		return fmt.Errorf("probe signature: %w", err)
	}
	return nil
}

// KID implements Signer: the kid of the key that signs now.
func (h HCertSigner) KID() []byte { return h.KIDAt(h.now()) }

// KIDAt is the kid of the key that signs at t.
func (h HCertSigner) KIDAt(t time.Time) []byte {
	s, err := h.at(t)
	if err != nil {
		return nil
	}
	return s.KID()
}

// kidAt is the kid of the key s signs with at t: signers that rotate keys tell it by time, so
// that a certificate signed at the moment of a switch records the key that signed it.
func kidAt(s Signer, t time.Time) []byte {
	if r, ok := s.(interface{ KIDAt(time.Time) []byte }); ok {
		return r.KIDAt(t)
	}
	return s.KID()
}

// signingRetryAfter is the Retry-After sent with signing-unavailable.
const signingRetryAfter = 10 * time.Second

// signingUnavailable wraps a signer failure (an HSM that does not answer, a lost session, no key
// for the time) in the problem answered for it, 503 signing-unavailable.
func signingUnavailable(err error) error {
	return fmt.Errorf("%w: %w", problem.New(problem.CodeSigningUnavailable, "", "").WithRetryAfter(signingRetryAfter), err)
}

// decodePayload reads the payload back out of a stored certificate.
func decodePayload(hc1 string) (dcc.Certificate, error) {
	d, err := hcert.Decode(hc1)
	if err != nil {
		return dcc.Certificate{}, fmt.Errorf("decode HC1: %w", err)
	}
	return d.Claims.Payload, nil
}
