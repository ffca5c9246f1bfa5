package hcert

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"github.com/sedcc/dcc/signing/base45"
	"github.com/sedcc/dcc/signing/dcc"
)

// Limits on hostile input. A QR code holds at most 4296 alphanumeric characters, so both leave
// ample room for every real certificate while bounding memory.
const (
	MaxEncodedLength = 64 << 10 // characters of an HC1 string
	MaxInflatedSize  = 64 << 10 // bytes of the decompressed COSE message
)

// Decoded is an HC1 string taken apart. Nothing in it is trusted before Verify succeeds.
type Decoded struct {
	// Algorithm is the COSE algorithm identifier from the protected header (or, failing that,
	// the unprotected one); 0 when absent.
	Algorithm int64
	// KID is the key identifier: from the protected header if present there, else from the
	// unprotected header (KIDUnprotected is then true), as several national signers do.
	KID            []byte
	KIDUnprotected bool
	// Protected and Unprotected are the header maps as decoded (labels are int64 or string).
	Protected   map[any]any
	Unprotected map[any]any
	// Claims are the CWT claims with the decoded payload.
	Claims Claims
	// RawPayload is the CBOR of the DCC payload (hcert key 1) exactly as signed.
	RawPayload []byte
	// COSE is the decompressed COSE_Sign1 message.
	COSE []byte

	rawProtected []byte // serialised protected header (content of the bstr)
	cwt          []byte // the signed CWT claims set
	signature    []byte
}

// Decode takes an HC1 string apart without verifying it: prefix, Base45, zlib, COSE_Sign1,
// CWT claims and payload. It never panics and allocates at most a small multiple of
// MaxInflatedSize, whatever the input.
func Decode(hc1 string) (*Decoded, error) {
	if len(hc1) > MaxEncodedLength {
		return nil, fmt.Errorf("%w: %d characters, at most %d", ErrTooLarge, len(hc1), MaxEncodedLength)
	}
	b45, ok := strings.CutPrefix(hc1, Prefix)
	if !ok {
		return nil, fmt.Errorf("%w: starts with %q", ErrPrefix, head(hc1))
	}
	z, err := base45.Decode(b45)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncoding, err)
	}
	msg, err := Inflate(z)
	if err != nil {
		return nil, err
	}
	return ParseCOSE(msg)
}

func head(s string) string {
	if len(s) > 4 {
		return s[:4]
	}
	return s
}

// Inflate decompresses a zlib stream of at most MaxInflatedSize bytes that must end exactly
// where the input ends.
func Inflate(z []byte) ([]byte, error) {
	br := bytes.NewReader(z)
	zr, err := zlib.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCompression, err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, MaxInflatedSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCompression, err)
	}
	if len(out) > MaxInflatedSize {
		return nil, fmt.Errorf("%w: inflates beyond %d bytes", ErrTooLarge, MaxInflatedSize)
	}
	if err := zr.Close(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCompression, err)
	}
	if br.Len() > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the zlib stream", ErrTrailingData, br.Len())
	}
	return out, nil
}

// cwtTag is the optional CWT tag (61) some issuers wrap around COSE_Sign1.
var cwtTag = []byte{0xd8, 0x3d}

// ParseCOSE decodes a COSE_Sign1 message (tagged 18, untagged, or inside CWT tag 61) carrying
// DCC CWT claims.
func ParseCOSE(msg []byte) (*Decoded, error) {
	if len(msg) > MaxInflatedSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(msg))
	}
	c, err := codecs()
	if err != nil {
		return nil, err
	}
	body := bytes.TrimPrefix(msg, cwtTag)
	var headers cose.Headers
	var payload, signature []byte
	switch {
	case len(body) > 0 && body[0] == 0xd2:
		var m cose.Sign1Message
		if err := m.UnmarshalCBOR(body); err != nil {
			return nil, coseError(err)
		}
		headers, payload, signature = m.Headers, m.Payload, m.Signature
	case len(body) > 0 && body[0] == 0x84:
		var m cose.UntaggedSign1Message
		if err := m.UnmarshalCBOR(body); err != nil {
			return nil, coseError(err)
		}
		headers, payload, signature = m.Headers, m.Payload, m.Signature
	default:
		return nil, fmt.Errorf("%w: not a COSE_Sign1 message", ErrMalformed)
	}
	if payload == nil {
		return nil, fmt.Errorf("%w: detached payload", ErrMalformed)
	}
	d := &Decoded{
		Protected:   map[any]any(headers.Protected),
		Unprotected: map[any]any(headers.Unprotected),
		COSE:        msg,
		cwt:         payload,
		signature:   signature,
	}
	if err := c.dec.Unmarshal(headers.RawProtected, &d.rawProtected); err != nil {
		return nil, fmt.Errorf("%w: protected header: %w", ErrMalformed, err)
	}
	d.Algorithm = headerAlgorithm(headers.Protected)
	if d.Algorithm == 0 {
		d.Algorithm = headerAlgorithm(headers.Unprotected)
	}
	if kid, ok := headers.Protected[cose.HeaderLabelKeyID].([]byte); ok {
		d.KID = kid
	} else if kid, ok := headers.Unprotected[cose.HeaderLabelKeyID].([]byte); ok {
		d.KID, d.KIDUnprotected = kid, true
	}
	if err := d.parseClaims(c); err != nil {
		return nil, err
	}
	return d, nil
}

func coseError(err error) error {
	var extra *cbor.ExtraneousDataError
	if errors.As(err, &extra) {
		return fmt.Errorf("%w: after the COSE message: %w", ErrTrailingData, err)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

func headerAlgorithm(h map[any]any) int64 {
	switch v := h[cose.HeaderLabelAlgorithm].(type) {
	case cose.Algorithm:
		return int64(v)
	case int64:
		return v
	}
	return 0
}

func (d *Decoded) parseClaims(c codec) error {
	var claims map[int64]cbor.RawMessage
	if err := c.dec.Unmarshal(d.cwt, &claims); err != nil {
		return fmt.Errorf("%w: CWT claims: %w", ErrMalformed, err)
	}
	if raw, ok := claims[claimIssuer]; ok {
		if err := c.dec.Unmarshal(raw, &d.Claims.Issuer); err != nil {
			return fmt.Errorf("%w: claim iss: %w", ErrMalformed, err)
		}
	}
	var err error
	if d.Claims.IssuedAt, err = numericDate(c, claims, claimIssuedAt); err != nil {
		return fmt.Errorf("%w: claim iat: %w", ErrMalformed, err)
	}
	if d.Claims.Expiry, err = numericDate(c, claims, claimExpiry); err != nil {
		return fmt.Errorf("%w: claim exp: %w", ErrMalformed, err)
	}
	raw, ok := claims[claimHCert]
	if !ok {
		return fmt.Errorf("%w: no hcert claim (-260)", ErrMalformed)
	}
	var hc map[int64]cbor.RawMessage
	if err := c.dec.Unmarshal(raw, &hc); err != nil {
		return fmt.Errorf("%w: hcert claim: %w", ErrMalformed, err)
	}
	d.RawPayload, ok = hc[hcertDCC]
	if !ok {
		return fmt.Errorf("%w: hcert claim without key 1", ErrMalformed)
	}
	if err := c.dec.Unmarshal(d.RawPayload, &d.Claims.Payload); err != nil {
		return fmt.Errorf("%w: %w", ErrPayload, err)
	}
	return nil
}

// numericDate reads a CWT NumericDate (integer or floating-point seconds); absent is zero.
func numericDate(c codec, claims map[int64]cbor.RawMessage, key int64) (time.Time, error) {
	raw, ok := claims[key]
	if !ok {
		return time.Time{}, nil
	}
	var v any
	if err := c.dec.Unmarshal(raw, &v); err != nil {
		return time.Time{}, err
	}
	switch n := v.(type) {
	case int64:
		return time.Unix(n, 0).UTC(), nil
	case uint64:
		if n > math.MaxInt64/2 {
			return time.Time{}, fmt.Errorf("%d out of range", n)
		}
		return time.Unix(int64(n), 0).UTC(), nil
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) || math.Abs(n) > 1<<40 {
			return time.Time{}, fmt.Errorf("%v out of range", n)
		}
		sec, frac := math.Modf(n)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%T is not a number", v)
}

// Kind returns the kind of the decoded certificate.
func (d *Decoded) Kind() dcc.Kind { return d.Claims.Payload.Kind() }
