package issuer

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/hcert"
)

// HCertSigner signs through the signing core with one key and DSC.
type HCertSigner struct {
	Signer  *hcert.Signer
	Country string // CWT iss
}

// Sign implements Signer.
func (h HCertSigner) Sign(p dcc.Certificate, issuedAt, expires time.Time) (string, error) {
	hc1, err := h.Signer.Sign(hcert.Claims{Issuer: h.Country, IssuedAt: issuedAt, Expiry: expires, Payload: p})
	if errors.Is(err, hcert.ErrOutsideValidity) {
		return "", fmt.Errorf("%w: %w", ErrSigningUnavailable, err)
	}
	return hc1, err
}

// Check implements Signer: it signs an empty CWT claims map.
func (h HCertSigner) Check() error {
	if _, err := h.Signer.SignCWT([]byte{0xa0}); err != nil {
		return fmt.Errorf("probe signature: %w", err)
	}
	return nil
}

// Allows implements Signer: the DSC's DCC extended key usages name the kind (or it has none).
func (h HCertSigner) Allows(k Kind) bool { return h.Signer.Allows(k.DCC()) }

// Certificate implements Signer.
func (h HCertSigner) Certificate() *x509.Certificate { return h.Signer.Certificate() }

// SignDetached implements Signer.
func (h HCertSigner) SignDetached(content []byte) ([]byte, error) {
	return h.Signer.SignDetached(content)
}

// Validity implements Signer: the DSC's NotBefore and NotAfter.
func (h HCertSigner) Validity() (notBefore, notAfter time.Time) {
	dsc := h.Signer.Certificate()
	return dsc.NotBefore, dsc.NotAfter
}

// KID implements Signer.
func (h HCertSigner) KID() []byte { return h.Signer.KID() }

// decodePayload reads the payload back out of a stored certificate.
func decodePayload(hc1 string) (dcc.Certificate, error) {
	d, err := hcert.Decode(hc1)
	if err != nil {
		return dcc.Certificate{}, fmt.Errorf("decode HC1: %w", err)
	}
	return d.Claims.Payload, nil
}
