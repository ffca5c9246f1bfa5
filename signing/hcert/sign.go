// Package hcert turns a DCC payload into an HC1 string and back: CWT claims (CBOR), COSE_Sign1,
// zlib, Base45 and the "HC1:" prefix, and verifies an HC1 against trusted signing certificates.
package hcert

import (
	"bytes"
	"compress/zlib"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/veraison/go-cose"

	"github.com/sedcc/dcc/signing/base45"
	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/keys"
)

// Prefix marks an HC1 string (context identifier of DCC version 1).
const Prefix = "HC1:"

// CWT claim keys and the hcert sub-key.
const (
	claimIssuer   = 1
	claimExpiry   = 4
	claimIssuedAt = 6
	claimHCert    = -260
	hcertDCC      = 1
)

// DefaultCompressionLevel is the zlib level used unless WithCompressionLevel says otherwise:
// stored blocks. A signed DCC is a few hundred bytes, a fifth of them a random signature, and
// deflate hardly shrinks it: over the 348 COSE messages of the EU test vectors, Go's levels 1 to 9
// save 0.1 % to 2.5 % against stored blocks (about 10 bytes a certificate at best), while a
// BestCompression writer costs more than the ECDSA signature itself (docs/perf.md). The output
// is a valid zlib stream either way, and every verifier inflates it.
const DefaultCompressionLevel = zlib.NoCompression

// Option adjusts a Signer.
type Option func(*Signer) error

// WithCompressionLevel sets the zlib level (zlib.NoCompression to zlib.BestCompression, or
// zlib.HuffmanOnly), for issuers who prefer the last bytes of QR size to signing throughput.
func WithCompressionLevel(level int) Option {
	return func(s *Signer) error {
		if _, err := zlib.NewWriterLevel(io.Discard, level); err != nil {
			return fmt.Errorf("hcert: %w", err)
		}
		s.level = level
		return nil
	}
}

// Claims are the CWT claims of a DCC.
type Claims struct {
	Issuer   string    // iss (1): ISO 3166-1 alpha-2 code of the issuing country
	IssuedAt time.Time // iat (6), whole seconds
	Expiry   time.Time // exp (4), whole seconds
	Payload  dcc.Certificate
}

type hcertClaim struct {
	DCC *dcc.Certificate `cbor:"1,keyasint"`
}

type cwtClaims struct {
	Issuer   string     `cbor:"1,keyasint"`
	Expiry   int64      `cbor:"4,keyasint"`
	IssuedAt int64      `cbor:"6,keyasint"`
	HCert    hcertClaim `cbor:"-260,keyasint"`
}

// Signer signs DCCs with one Document Signer key. It is safe for concurrent use.
type Signer struct {
	key       cose.DigestSigner
	protected []byte // serialised protected header {1: alg, 4: kid}, fixed per signer
	alg       cose.Algorithm
	kid       []byte
	dsc       *x509.Certificate
	codec     codec
	rand      io.Reader
	zlibs     sync.Pool // *zlib.Writer, reset per use
	level     int
}

// NewSigner returns a Signer for key, which must belong to dsc. ECDSA P-256 keys sign with
// ES256, RSA keys with PS256. key may be any crypto.Signer (a file key, an HSM).
func NewSigner(key crypto.Signer, dsc *x509.Certificate, opts ...Option) (*Signer, error) {
	if key == nil || dsc == nil {
		return nil, errors.New("hcert: signer needs a key and its DSC")
	}
	if err := keys.Match(key, dsc); err != nil {
		return nil, fmt.Errorf("hcert: %w", err)
	}
	var alg cose.Algorithm
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("hcert: ECDSA curve %s is not P-256", pub.Curve.Params().Name)
		}
		alg = cose.AlgorithmES256
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("hcert: RSA key of %d bits, at least 2048 required", pub.N.BitLen())
		}
		alg = cose.AlgorithmPS256
	default:
		return nil, fmt.Errorf("hcert: unsupported key type %T", pub)
	}
	cs, err := cose.NewSigner(alg, key)
	if err != nil {
		return nil, fmt.Errorf("hcert: %w", err)
	}
	ds, ok := cs.(cose.DigestSigner)
	if !ok {
		return nil, fmt.Errorf("hcert: go-cose signer for %s cannot sign digests", alg)
	}
	c, err := codecs()
	if err != nil {
		return nil, err
	}
	kid := keys.KID(dsc)
	protected, err := c.enc.Marshal(map[int64]any{int64(cose.HeaderLabelAlgorithm): int64(alg), int64(cose.HeaderLabelKeyID): kid})
	if err != nil {
		return nil, fmt.Errorf("hcert: protected header: %w", err)
	}
	s := &Signer{key: ds, protected: protected, alg: alg, kid: kid, dsc: dsc, codec: c, rand: rand.Reader, level: DefaultCompressionLevel}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// KID returns the key identifier placed in the protected header (8 bytes; a copy).
func (s *Signer) KID() []byte { return bytes.Clone(s.kid) }

// Certificate returns the DSC.
func (s *Signer) Certificate() *x509.Certificate { return s.dsc }

// Allows reports whether the DSC may sign certificates of kind k (its DCC extended key usages).
func (s *Signer) Allows(k dcc.Kind) bool { return keys.Allows(s.dsc, k) }

// Algorithm returns the COSE algorithm identifier (-7 ES256 or -37 PS256).
func (s *Signer) Algorithm() int64 { return int64(s.alg) }

// ErrOutsideValidity is returned when a certificate would be issued outside its DSC's validity:
// verifiers reject a DCC signed before the DSC's NotBefore or after its NotAfter.
var ErrOutsideValidity = errors.New("hcert: issued-at outside the DSC's validity")

// Sign validates the claims and returns the HC1 string. IssuedAt and Expiry are taken as given
// (the caller's clock), truncated to whole seconds, except that an Expiry after the DSC's
// NotAfter is capped at it; an IssuedAt outside the DSC's validity is refused with
// ErrOutsideValidity.
func (s *Signer) Sign(c Claims) (string, error) {
	cwt, err := s.EncodeClaims(c)
	if err != nil {
		return "", err
	}
	msg, err := s.SignCWT(cwt)
	if err != nil {
		return "", err
	}
	return s.Encode(msg)
}

// EncodeClaims validates the claims and encodes them as a CWT claims set in deterministic
// (Core) CBOR: the first stage of Sign. A DSC that carries DCC extended key usages signs only
// the kinds they name; any other kind is refused with ErrKeyUsage.
func (s *Signer) EncodeClaims(c Claims) ([]byte, error) {
	if len(c.Issuer) != 2 || c.Issuer[0] < 'A' || c.Issuer[0] > 'Z' || c.Issuer[1] < 'A' || c.Issuer[1] > 'Z' {
		return nil, fmt.Errorf("hcert: issuer %q is not a two-letter country code", c.Issuer)
	}
	if c.IssuedAt.IsZero() || c.Expiry.IsZero() {
		return nil, errors.New("hcert: issued-at and expiry are required")
	}
	if c.IssuedAt.Before(s.dsc.NotBefore) || c.IssuedAt.After(s.dsc.NotAfter) {
		return nil, fmt.Errorf("%w: issued at %s, DSC valid %s to %s", ErrOutsideValidity, c.IssuedAt.UTC().Format(time.RFC3339),
			s.dsc.NotBefore.UTC().Format(time.RFC3339), s.dsc.NotAfter.UTC().Format(time.RFC3339))
	}
	if c.Expiry.After(s.dsc.NotAfter) {
		c.Expiry = s.dsc.NotAfter
	}
	if !c.Expiry.After(c.IssuedAt) {
		return nil, fmt.Errorf("hcert: expiry %s is not after issued-at %s", c.Expiry.UTC().Format(time.RFC3339), c.IssuedAt.UTC().Format(time.RFC3339))
	}
	if err := c.Payload.Validate(); err != nil {
		return nil, fmt.Errorf("hcert: %w", err)
	}
	if k := c.Payload.Kind(); !keys.Allows(s.dsc, k) {
		return nil, fmt.Errorf("%w: the DSC's extended key usages do not name %s", ErrKeyUsage, k)
	}
	out, err := s.codec.enc.Marshal(cwtClaims{
		Issuer:   c.Issuer,
		Expiry:   c.Expiry.Unix(),
		IssuedAt: c.IssuedAt.Unix(),
		HCert:    hcertClaim{DCC: &c.Payload},
	})
	if err != nil {
		return nil, fmt.Errorf("hcert: encode claims: %w", err)
	}
	return out, nil
}

// SignCWT wraps a CWT claims set in a tagged COSE_Sign1 whose protected header carries the
// algorithm and the kid: the second stage of Sign. The protected header is serialised once per
// Signer; the Sig_structure (RFC 9052, section 4.4) and the message are written directly, and
// go-cose signs the SHA-256 digest (ES256 signatures come out as fixed-width r||s).
func (s *Signer) SignCWT(cwt []byte) ([]byte, error) {
	tbs := make([]byte, 0, 32+len(s.protected)+len(cwt))
	tbs = append(tbs, 0x84)            // array(4)
	tbs = append(tbs, 0x6a)            // text(10)
	tbs = append(tbs, "Signature1"...) // context
	tbs = appendBstr(tbs, s.protected) // body_protected
	tbs = append(tbs, 0x40)            // external_aad: empty bstr
	tbs = appendBstr(tbs, cwt)         // payload
	digest := sha256.Sum256(tbs)
	sig, err := s.key.SignDigest(s.rand, digest[:])
	if err != nil {
		return nil, fmt.Errorf("hcert: sign: %w", err)
	}
	msg := make([]byte, 0, 16+len(s.protected)+len(cwt)+len(sig))
	msg = append(msg, 0xd2, 0x84) // tag(18) array(4)
	msg = appendBstr(msg, s.protected)
	msg = append(msg, 0xa0) // unprotected: empty map
	msg = appendBstr(msg, cwt)
	msg = appendBstr(msg, sig)
	return msg, nil
}

// SignDetached signs a document (a trust list, a revocation list) with the signer's key: a
// tagged COSE_Sign1 whose protected header carries the algorithm and the kid, with a detached
// payload (nil in the message; the Sig_structure covers content). VerifyDetached checks it.
func (s *Signer) SignDetached(content []byte) ([]byte, error) {
	tbs := make([]byte, 0, 32+len(s.protected)+len(content))
	tbs = append(tbs, 0x84, 0x6a)
	tbs = append(tbs, "Signature1"...)
	tbs = appendBstr(tbs, s.protected)
	tbs = append(tbs, 0x40)
	tbs = appendBstr(tbs, content)
	digest := sha256.Sum256(tbs)
	sig, err := s.key.SignDigest(s.rand, digest[:])
	if err != nil {
		return nil, fmt.Errorf("hcert: sign: %w", err)
	}
	msg := make([]byte, 0, 16+len(s.protected)+len(sig))
	msg = append(msg, 0xd2, 0x84)
	msg = appendBstr(msg, s.protected)
	msg = append(msg, 0xa0, 0xf6) // unprotected: empty map; payload: nil (detached)
	msg = appendBstr(msg, sig)
	return msg, nil
}

// appendBstr appends a CBOR byte string (major type 2, shortest length form).
func appendBstr(dst, b []byte) []byte {
	n := uint64(len(b))
	switch {
	case n < 24:
		dst = append(dst, 0x40|byte(n))
	case n <= 0xff:
		dst = append(dst, 0x58, byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x59, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x5a, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, b...)
}

// Encode compresses a COSE message with zlib, encodes it in Base45 and prefixes "HC1:": the
// last stages of Sign.
func (s *Signer) Encode(msg []byte) (string, error) {
	z, err := s.Compress(msg)
	if err != nil {
		return "", err
	}
	out := make([]byte, 0, len(Prefix)+base45.EncodedLen(len(z)))
	out = append(out, Prefix...)
	return string(base45.AppendEncode(out, z)), nil
}

// Compress returns the zlib stream of msg.
func (s *Signer) Compress(msg []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(msg) + 16)
	w, _ := s.zlibs.Get().(*zlib.Writer)
	if w == nil {
		var err error
		if w, err = zlib.NewWriterLevel(&buf, s.level); err != nil {
			return nil, fmt.Errorf("hcert: zlib: %w", err)
		}
	} else {
		w.Reset(&buf)
	}
	if _, err := w.Write(msg); err != nil {
		return nil, fmt.Errorf("hcert: zlib: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("hcert: zlib: %w", err)
	}
	s.zlibs.Put(w)
	return buf.Bytes(), nil
}
