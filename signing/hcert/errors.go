package hcert

import "errors"

// Errors of decoding and verification. Every error these functions return wraps exactly one of
// them (test with errors.Is); Reason turns it into a stable code.
var (
	ErrTooLarge         = errors.New("hcert: input too large")
	ErrPrefix           = errors.New("hcert: missing or unsupported prefix (want HC1:)")
	ErrEncoding         = errors.New("hcert: invalid Base45")
	ErrCompression      = errors.New("hcert: invalid zlib data")
	ErrTrailingData     = errors.New("hcert: trailing data")
	ErrMalformed        = errors.New("hcert: malformed COSE or CWT")
	ErrPayload          = errors.New("hcert: malformed DCC payload")
	ErrUnknownAlgorithm = errors.New("hcert: unknown or unsupported algorithm")
	ErrUnknownKID       = errors.New("hcert: unknown key identifier")
	ErrBadSignature     = errors.New("hcert: signature does not verify")
	ErrExpired          = errors.New("hcert: certificate expired")
	ErrNotYetValid      = errors.New("hcert: certificate not yet valid")
	ErrKeyUsage         = errors.New("hcert: signing certificate not allowed for this certificate kind")
	ErrDSCValidity      = errors.New("hcert: signing certificate not valid at that time")
)

var reasons = []struct {
	err  error
	code string
}{
	{ErrTooLarge, "too-large"},
	{ErrPrefix, "prefix"},
	{ErrEncoding, "base45"},
	{ErrCompression, "compression"},
	{ErrTrailingData, "trailing-data"},
	{ErrMalformed, "malformed"},
	{ErrPayload, "payload"},
	{ErrUnknownAlgorithm, "unknown-algorithm"},
	{ErrUnknownKID, "unknown-kid"},
	{ErrBadSignature, "bad-signature"},
	{ErrExpired, "expired"},
	{ErrNotYetValid, "not-yet-valid"},
	{ErrKeyUsage, "key-usage"},
	{ErrDSCValidity, "dsc-validity"},
}

// Reason returns a stable, machine-readable code for an error of this package ("expired",
// "unknown-kid", "bad-signature", ...), "" for nil and "invalid" for anything else.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	return "invalid"
}
