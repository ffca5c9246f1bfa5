package hcert

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/veraison/go-cose"

	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/keys"
)

// Trust gives the signing certificates (DSCs) trusted for a key identifier. trust.List
// implements it.
type Trust interface {
	Lookup(kid []byte) []*x509.Certificate
}

// supported lists the algorithms the DCC specification allows.
var supported = map[int64]cose.Algorithm{
	int64(cose.AlgorithmES256): cose.AlgorithmES256,
	int64(cose.AlgorithmPS256): cose.AlgorithmPS256,
}

// Verify decodes hc1 and verifies it against trust at time now (see Decoded.Verify). On a
// verification error the decoded content is returned too, for display only.
func Verify(hc1 string, trust Trust, now time.Time) (*Decoded, error) {
	d, err := Decode(hc1)
	if err != nil {
		return nil, err
	}
	if _, err := d.Verify(trust, now); err != nil {
		return d, err
	}
	return d, nil
}

// Verify checks, in this order, the algorithm, that trust knows the kid, the signature against
// the trusted DSCs for that kid, that now lies between iat and exp, that the payload holds one
// kind and the DSC's extended key usage allows it, and that the DSC is valid at now. It returns the DSC
// that signed, and an error wrapping one of the package's sentinel errors.
func (d *Decoded) Verify(trust Trust, now time.Time) (*x509.Certificate, error) {
	if _, ok := supported[d.Algorithm]; !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownAlgorithm, d.Algorithm)
	}
	if len(d.KID) == 0 {
		return nil, fmt.Errorf("%w: no kid in either header", ErrUnknownKID)
	}
	if trust == nil {
		return nil, fmt.Errorf("%w: no trusted certificates", ErrUnknownKID)
	}
	certs := trust.Lookup(d.KID)
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKID, hex.EncodeToString(d.KID))
	}
	var signer *x509.Certificate
	var errs []error
	for _, c := range certs {
		err := d.VerifySignature(c)
		if err == nil {
			signer = c
			break
		}
		errs = append(errs, err)
	}
	if signer == nil {
		return nil, errors.Join(errs...)
	}
	if err := d.CheckTime(now); err != nil {
		return signer, err
	}
	if d.Kind() == dcc.KindUnknown {
		return signer, fmt.Errorf("%w: not exactly one of v, t and r", ErrPayload)
	}
	if err := d.CheckKeyUsage(signer); err != nil {
		return signer, err
	}
	if now.Before(signer.NotBefore) || now.After(signer.NotAfter) {
		return signer, fmt.Errorf("%w: DSC valid %s to %s", ErrDSCValidity,
			signer.NotBefore.UTC().Format(time.RFC3339), signer.NotAfter.UTC().Format(time.RFC3339))
	}
	return signer, nil
}

// VerifySignature checks the COSE signature with the public key of cert. The key type must
// fit the algorithm; the kid is not compared.
func (d *Decoded) VerifySignature(cert *x509.Certificate) error {
	alg, ok := supported[d.Algorithm]
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownAlgorithm, d.Algorithm)
	}
	v, err := cose.NewVerifier(alg, cert.PublicKey)
	if err != nil {
		return fmt.Errorf("%w: DSC key does not fit %s: %w", ErrBadSignature, alg, err)
	}
	tbs, err := d.toBeSigned()
	if err != nil {
		return err
	}
	if err := v.Verify(tbs, d.signature); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}

// toBeSigned builds the Sig_structure of RFC 9052, section 4.4, with empty external data.
func (d *Decoded) toBeSigned() ([]byte, error) {
	c, err := codecs()
	if err != nil {
		return nil, err
	}
	tbs, err := c.enc.Marshal([]any{"Signature1", d.rawProtected, []byte{}, d.cwt})
	if err != nil {
		return nil, fmt.Errorf("%w: Sig_structure: %w", ErrMalformed, err)
	}
	return tbs, nil
}

// CheckKeyUsage reports ErrKeyUsage unless the DSC's extended key usage allows the kind of the
// decoded certificate.
func (d *Decoded) CheckKeyUsage(dsc *x509.Certificate) error {
	if !keys.Allows(dsc, d.Kind()) {
		return fmt.Errorf("%w: %s", ErrKeyUsage, d.Kind())
	}
	return nil
}

// CheckTime reports ErrExpired when now is after exp (or exp is missing), ErrNotYetValid
// when now is before iat, and ErrMalformed when either claim is a number no date stands for.
func (d *Decoded) CheckTime(now time.Time) error {
	if d.ExpiryClaim != nil && !d.ExpiryClaim.InRange() {
		return fmt.Errorf("%w: claim exp %s is not a date in the years 1 to 9999", ErrMalformed, d.ExpiryClaim.Number)
	}
	if d.IssuedAtClaim != nil && !d.IssuedAtClaim.InRange() {
		return fmt.Errorf("%w: claim iat %s is not a date in the years 1 to 9999", ErrMalformed, d.IssuedAtClaim.Number)
	}
	if d.Claims.Expiry.IsZero() {
		return fmt.Errorf("%w: no expiry claim", ErrExpired)
	}
	if now.After(d.Claims.Expiry) {
		return fmt.Errorf("%w: expired %s", ErrExpired, d.Claims.Expiry.UTC().Format(time.RFC3339))
	}
	if !d.Claims.IssuedAt.IsZero() && now.Before(d.Claims.IssuedAt) {
		return fmt.Errorf("%w: issued %s", ErrNotYetValid, d.Claims.IssuedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// VerifyDetached checks a COSE_Sign1 made by SignDetached over content: the algorithm, the kid
// of its protected header against trust, and the signature. It returns the DSC that signed.
func VerifyDetached(msg, content []byte, trust Trust) (*x509.Certificate, error) {
	if len(msg) > MaxInflatedSize {
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrTooLarge, len(msg))
	}
	var m cose.Sign1Message
	if err := m.UnmarshalCBOR(msg); err != nil {
		return nil, coseError(err)
	}
	if m.Payload != nil {
		return nil, fmt.Errorf("%w: the signature is not detached", ErrMalformed)
	}
	alg, ok := supported[headerAlgorithm(m.Headers.Protected)]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownAlgorithm, headerAlgorithm(m.Headers.Protected))
	}
	kid, _ := m.Headers.Protected[cose.HeaderLabelKeyID].([]byte)
	if len(kid) == 0 || trust == nil {
		return nil, fmt.Errorf("%w: no kid in the protected header", ErrUnknownKID)
	}
	certs := trust.Lookup(kid)
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKID, hex.EncodeToString(kid))
	}
	m.Payload = content
	var errs []error
	for _, c := range certs {
		v, err := cose.NewVerifier(alg, c.PublicKey)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: DSC key does not fit %s: %w", ErrBadSignature, alg, err))
			continue
		}
		if err := m.Verify(nil, v); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrBadSignature, err))
			continue
		}
		return c, nil
	}
	return nil, errors.Join(errs...)
}
