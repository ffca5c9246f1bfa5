// Package revocation computes the hashes by which the EU DCC revocation scheme names a revoked
// certificate, and holds the revocation list document this service publishes.
//
// The scheme (eHealth Network, "DCC revocation", hash types of the DCCG revocation batches)
// names a certificate by the first 128 bits of a SHA-256 hash, of one of three inputs:
//
//   - UCI: the unique certificate identifier (the ci field) as written, UTF-8;
//   - COUNTRYCODEUCI: the issuing country of the CWT (claim iss, e.g. "SE") followed directly
//     by the UCI;
//   - SIGNATURE: the COSE signature; for ECDSA (ES256) only its first half, the r value, for
//     RSASSA-PSS (PS256) all of it.
//
// Verifiers look up all three; an issuer publishes each revoked certificate under each, per kid.
package revocation

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/sedcc/dcc/signing/hcert"
)

// HashLength is the length of a revocation hash: the first 128 bits of SHA-256.
const HashLength = 16

// HashType names the input of a revocation hash, as the DCC gateway spells it.
type HashType string

// The hash types, in the order this service lists them.
const (
	HashSignature      HashType = "SIGNATURE"
	HashUCI            HashType = "UCI"
	HashCountryCodeUCI HashType = "COUNTRYCODEUCI"
)

// HashTypes are the three hash types.
var HashTypes = []HashType{HashSignature, HashUCI, HashCountryCodeUCI}

// COSE algorithm identifiers of the DCC.
const (
	algES256 = -7
	algPS256 = -37
)

// Hashes are the three revocation hashes of one certificate.
type Hashes struct {
	UCI            []byte
	CountryCodeUCI []byte
	Signature      []byte
}

// Of returns the hash of type t.
func (h Hashes) Of(t HashType) []byte {
	switch t {
	case HashUCI:
		return h.UCI
	case HashCountryCodeUCI:
		return h.CountryCodeUCI
	case HashSignature:
		return h.Signature
	}
	return nil
}

func truncated(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)[:HashLength]
}

// UCIHash is the UCI hash of a unique certificate identifier.
func UCIHash(uci string) []byte { return truncated([]byte(uci)) }

// CountryCodeUCIHash is the COUNTRYCODEUCI hash: the issuing country (CWT iss) and the UCI.
func CountryCodeUCIHash(country, uci string) []byte {
	return truncated([]byte(country), []byte(uci))
}

// SignatureHash is the SIGNATURE hash of a COSE signature made with algorithm alg (-7 ES256:
// the r half of the fixed-width r||s; -37 PS256: the whole signature).
func SignatureHash(alg int64, signature []byte) ([]byte, error) {
	switch alg {
	case algES256:
		if len(signature) != 64 {
			return nil, fmt.Errorf("revocation: ES256 signature of %d bytes, want 64", len(signature))
		}
		return truncated(signature[:32]), nil
	case algPS256:
		if len(signature) == 0 {
			return nil, errors.New("revocation: empty PS256 signature")
		}
		return truncated(signature), nil
	}
	return nil, fmt.Errorf("revocation: no SIGNATURE hash for algorithm %d", alg)
}

// Of computes the three hashes of a decoded certificate: its UCI (the ci of its single entry),
// its issuing country (iss) and its signature.
func Of(d *hcert.Decoded) (Hashes, error) {
	uci := d.Claims.Payload.ID()
	if uci == "" {
		return Hashes{}, errors.New("revocation: the certificate has no UCI (ci)")
	}
	if d.Claims.Issuer == "" {
		return Hashes{}, errors.New("revocation: the certificate has no issuing country (iss)")
	}
	sig, err := SignatureHash(d.Algorithm, d.Signature())
	if err != nil {
		return Hashes{}, err
	}
	return Hashes{
		UCI:            UCIHash(uci),
		CountryCodeUCI: CountryCodeUCIHash(d.Claims.Issuer, uci),
		Signature:      sig,
	}, nil
}
