package hcert

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
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
	// Claims are the CWT claims with the decoded payload. IssuedAt and Expiry are zero when
	// the claim is absent or its number lies outside the years 1 to 9999.
	Claims Claims
	// IssuedAtClaim and ExpiryClaim are the iat and exp claims as encoded; nil when absent.
	IssuedAtClaim, ExpiryClaim *NumericDate
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
	if d.IssuedAtClaim, err = numericDate(c, claims, claimIssuedAt); err != nil {
		return fmt.Errorf("%w: claim iat: %w", ErrMalformed, err)
	}
	if d.ExpiryClaim, err = numericDate(c, claims, claimExpiry); err != nil {
		return fmt.Errorf("%w: claim exp: %w", ErrMalformed, err)
	}
	d.Claims.IssuedAt, d.Claims.Expiry = d.IssuedAtClaim.instant(), d.ExpiryClaim.instant()
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
	if d.Claims.Payload, err = DecodePayload(d.RawPayload); err != nil {
		return err
	}
	return nil
}

// NumericDate is a CWT NumericDate claim (RFC 8392) as encoded: seconds since the epoch, an
// integer or a float.
type NumericDate struct {
	// Number is the value as encoded, in decimal ("1622577600", "1622577600.25").
	Number json.Number
	// Time is the instant, or zero when Number lies outside the years 1 to 9999 (a hostile
	// value that no calendar date stands for).
	Time time.Time
}

// The NumericDates that name an instant in the years 1 to 9999.
const (
	minNumericDate = -62135596800 // 0001-01-01T00:00:00Z
	maxNumericDate = 253402300799 // 9999-12-31T23:59:59Z
)

// formatFloat writes a float in its shortest exact decimal form, in positional notation below
// 1e21 (as JavaScript does), so a NumericDate such as 1622577600.25 reads as written.
func formatFloat(f float64) string {
	if math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func (n *NumericDate) instant() time.Time {
	if n == nil {
		return time.Time{}
	}
	return n.Time
}

// InRange reports whether the claim names an instant in the years 1 to 9999.
func (n *NumericDate) InRange() bool { return n != nil && !n.Time.IsZero() }

// numericDate reads a CWT NumericDate (integer or floating-point seconds); absent is nil.
func numericDate(c codec, claims map[int64]cbor.RawMessage, key int64) (*NumericDate, error) {
	raw, ok := claims[key]
	if !ok {
		return nil, nil
	}
	if len(raw) > 0 && raw[0]>>5 <= 1 { // an integer of either sign, whatever its size
		var n big.Int
		if err := c.dec.Unmarshal(raw, &n); err != nil {
			return nil, err
		}
		out := &NumericDate{Number: json.Number(n.String())}
		if n.IsInt64() && n.Int64() >= minNumericDate && n.Int64() <= maxNumericDate {
			out.Time = time.Unix(n.Int64(), 0).UTC()
		}
		return out, nil
	}
	var v any
	if err := c.dec.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	switch n := v.(type) {
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, fmt.Errorf("%v is not a date", n)
		}
		out := &NumericDate{Number: json.Number(formatFloat(n))}
		if n >= minNumericDate && n <= maxNumericDate {
			sec, frac := math.Modf(n)
			out.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
		}
		return out, nil
	}
	return nil, fmt.Errorf("%T is not a number", v)
}

// Signature returns the COSE signature bytes (a copy): r||s for ES256, the RSASSA-PSS signature
// for PS256.
func (d *Decoded) Signature() []byte { return bytes.Clone(d.signature) }

// Kind returns the kind of the decoded certificate.
func (d *Decoded) Kind() dcc.Kind { return d.Claims.Payload.Kind() }
