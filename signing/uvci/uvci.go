// Package uvci builds and checks Unique Vaccination Certificate/assertion Identifiers (UVCI,
// eHN guidelines annex 2, scheme 01) with the Luhn mod N check character.
package uvci

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Prefix starts every UVCI of scheme version 01.
const Prefix = "URN:UVCI:01:"

// MaxLength is the schema's limit on the certificate identifier.
const MaxLength = 80

// CodePoints is the Luhn mod N character set of the eHN reference implementation, in code
// point order: A-Z, 0-9, '/' and ':'.
const CodePoints = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/:"

// OpaqueBytes is how many bytes of the SHA-256 digest the opaque part carries (160 bits).
const OpaqueBytes = 20

// Errors returned by Valid and Generator.For; test with errors.Is.
var (
	ErrFormat   = errors.New("uvci: malformed")
	ErrChecksum = errors.New("uvci: wrong check character")
	ErrLength   = errors.New("uvci: longer than 80 characters")
)

var opaqueEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// MaxProviderCode is the longest provider code a UVCI carries.
const MaxProviderCode = 16

// Generator derives UVCIs "URN:UVCI:01:<Country>:<Prefix>/<provider>/<opaque>#<check>".
type Generator struct {
	Country string // ISO 3166-1 alpha-2 code of the issuing country, e.g. "SE"
	Prefix  string // issuing entity, A-Z and 0-9 (e.g. "EHM"); may be empty
}

// For returns the UVCI for the provider's identifier of a result or vaccination. providerCode is
// the provider's unique code in this service (1 to 16 of A-Z and 0-9); it stands in the UVCI in
// clear, so two providers' UVCIs can never be equal. The same pair always yields the same UVCI;
// see docs/uvci.md for the construction and why it cannot collide.
func (g Generator) For(providerCode, identifier string) (string, error) {
	if len(g.Country) != 2 || !onlyAlnum(g.Country) {
		return "", fmt.Errorf("%w: country %q is not two capital letters", ErrFormat, g.Country)
	}
	if !onlyAlnum(g.Prefix) {
		return "", fmt.Errorf("%w: prefix %q holds characters other than A-Z and 0-9", ErrFormat, g.Prefix)
	}
	if providerCode == "" || len(providerCode) > MaxProviderCode || !onlyAlnum(providerCode) {
		return "", fmt.Errorf("%w: provider code %q is not 1 to %d of A-Z and 0-9", ErrFormat, providerCode, MaxProviderCode)
	}
	if identifier == "" {
		return "", fmt.Errorf("%w: empty identifier", ErrFormat)
	}
	h := sha256.New()
	h.Write([]byte("sedcc-uvci-v2\x00"))
	var n [8]byte
	for _, part := range []string{providerCode, identifier} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	opaque := opaqueEncoding.EncodeToString(h.Sum(nil)[:OpaqueBytes])
	var b strings.Builder
	b.WriteString(Prefix)
	b.WriteString(g.Country)
	b.WriteByte(':')
	if g.Prefix != "" {
		b.WriteString(g.Prefix)
		b.WriteByte('/')
	}
	b.WriteString(providerCode)
	b.WriteByte('/')
	b.WriteString(opaque)
	body := b.String()
	check, err := CheckCharacter(body)
	if err != nil {
		return "", err
	}
	out := body + "#" + string(check)
	if len(out) > MaxLength {
		return "", fmt.Errorf("%w: %d characters with prefix %q", ErrLength, len(out), g.Prefix)
	}
	return out, nil
}

func onlyAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func codePoint(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= '0' && c <= '9':
		return int(c-'0') + 26
	case c == '/':
		return 36
	case c == ':':
		return 37
	}
	return -1
}

// luhnModN sums s from the right, doubling every other code point starting with factor.
func luhnModN(s string, factor int) (int, error) {
	n := len(CodePoints)
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		cp := codePoint(s[i])
		if cp < 0 {
			return 0, fmt.Errorf("%w: character %q at offset %d is not in A-Z, 0-9, '/', ':'", ErrFormat, s[i], i)
		}
		addend := factor * cp
		if factor == 2 {
			factor = 1
		} else {
			factor = 2
		}
		sum += addend/n + addend%n
	}
	return sum % n, nil
}

// CheckCharacter returns the Luhn mod N check character of s, computed exactly as the eHN
// reference implementation (eu-dcc-schema, Luhn-Mod-N) does: over the whole string given,
// including "URN:UVCI:", with the character set CodePoints.
func CheckCharacter(s string) (byte, error) {
	r, err := luhnModN(s, 2)
	if err != nil {
		return 0, err
	}
	n := len(CodePoints)
	return CodePoints[(n-r)%n], nil
}

// Valid checks that s is a scheme-01 UVCI "URN:UVCI:01:CC:..." of at most 80 characters from
// the UVCI character set, and, when it ends in "#" and a check character, that the character
// is right.
func Valid(s string) error {
	if len(s) > MaxLength {
		return fmt.Errorf("%w: %d characters", ErrLength, len(s))
	}
	if !strings.HasPrefix(s, Prefix) {
		return fmt.Errorf("%w: does not start with %s", ErrFormat, Prefix)
	}
	rest := s[len(Prefix):]
	if len(rest) < 4 || rest[2] != ':' || !onlyAlnum(rest[:2]) || rest[0] < 'A' || rest[1] < 'A' {
		return fmt.Errorf("%w: no country code after %s", ErrFormat, Prefix)
	}
	body, check, hasCheck := strings.Cut(s, "#")
	if _, err := luhnModN(body, 1); err != nil {
		return err
	}
	if !hasCheck {
		return nil
	}
	if len(check) != 1 || codePoint(check[0]) < 0 {
		return fmt.Errorf("%w: %q after '#' is not one check character", ErrFormat, check)
	}
	r, err := luhnModN(body+check, 1)
	if err != nil {
		return err
	}
	if r != 0 {
		want, _ := CheckCharacter(body)
		return fmt.Errorf("%w: %q, expected %q", ErrChecksum, check, want)
	}
	return nil
}
