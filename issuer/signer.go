package issuer

import (
	"crypto/x509"
	"fmt"
	"time"

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
	Clock   func() time.Time // the time KID, Check and Validity ask Keys about; time.Now when nil
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

// Sign implements Signer. Every failure to sign (a DSC outside its validity, no key for the
// time, an HSM that does not answer) wraps ErrSigningUnavailable: the issuer has validated the
// payload and the claims before.
func (h HCertSigner) Sign(p dcc.Certificate, issuedAt, expires time.Time) (string, error) {
	s, err := h.at(issuedAt)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrSigningUnavailable, err)
	}
	hc1, err := s.Sign(hcert.Claims{Issuer: h.Country, IssuedAt: issuedAt, Expiry: expires, Payload: p})
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrSigningUnavailable, err)
	}
	return hc1, nil
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

// Validity implements Signer: the NotBefore and NotAfter of the DSC that signs now (zero when no
// key signs now, which reads as expired).
func (h HCertSigner) Validity() (notBefore, notAfter time.Time) {
	s, err := h.at(h.now())
	if err != nil {
		return time.Time{}, time.Time{}
	}
	dsc := s.Certificate()
	return dsc.NotBefore, dsc.NotAfter
}

// Allows implements Signer: the DSC that signs now names the kind in its DCC extended key usages
// (or names none).
func (h HCertSigner) Allows(k Kind) bool {
	s, err := h.at(h.now())
	if err != nil {
		return false
	}
	return s.Allows(k.DCC())
}

// Certificate implements Signer: the DSC that signs now; nil when no key signs now.
func (h HCertSigner) Certificate() *x509.Certificate {
	s, err := h.at(h.now())
	if err != nil {
		return nil
	}
	return s.Certificate()
}

// SignDetached implements Signer, with the key that signs now.
func (h HCertSigner) SignDetached(content []byte) ([]byte, error) {
	s, err := h.at(h.now())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSigningUnavailable, err)
	}
	return s.SignDetached(content)
}

// Published is every DSC the keys publish at now: the signing one, a staged successor and
// predecessors until they expire; just the one DSC without Keys.
func (h HCertSigner) Published(now time.Time) []*x509.Certificate {
	if p, ok := h.Keys.(interface {
		Published(time.Time) []*x509.Certificate
	}); ok {
		return p.Published(now)
	}
	if c := h.Certificate(); c != nil {
		return []*x509.Certificate{c}
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

// decodePayload reads the payload back out of a stored certificate.
func decodePayload(hc1 string) (dcc.Certificate, error) {
	d, err := hcert.Decode(hc1)
	if err != nil {
		return dcc.Certificate{}, fmt.Errorf("decode HC1: %w", err)
	}
	return d.Claims.Payload, nil
}
