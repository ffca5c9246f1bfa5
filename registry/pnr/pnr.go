// Package pnr holds the Swedish personal identity number (personnummer) and coordination number
// (samordningsnummer) as a type that never shows itself in clear by accident.
//
// Only the 12-digit form YYYYMMDDNNNN is accepted: no hyphen, no plus, no 10-digit form.
package pnr

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Kind says which of the two number series a Number belongs to.
type Kind int

const (
	// Personnummer is the personal identity number; the day is the day of birth.
	Personnummer Kind = iota + 1
	// Samordningsnummer is the coordination number; the day of birth plus 60.
	Samordningsnummer
)

func (k Kind) String() string {
	switch k {
	case Personnummer:
		return "personnummer"
	case Samordningsnummer:
		return "samordningsnummer"
	}
	return "unknown"
}

// Errors returned by Parse. Each is a separate finding, so callers can say precisely what to fix.
var (
	ErrFormat   = errors.New("not 12 digits YYYYMMDDNNNN")
	ErrDate     = errors.New("the first 8 digits are not a real date")
	ErrChecksum = errors.New("the check digit does not match")
	ErrFuture   = errors.New("the date of birth is in the future")
)

// Number is a validated personnummer or samordningsnummer. Its String, Format and LogValue mask
// the last four digits; the clear value is only available through Digits.
type Number struct {
	digits string
	kind   Kind
	birth  time.Time
}

// Parse validates s as a number of the given kind at the time now. A samordningsnummer is only
// accepted as kind Samordningsnummer, and a personnummer only as kind Personnummer.
func Parse(s string, kind Kind, now time.Time) (Number, error) {
	if len(s) != 12 {
		return Number{}, ErrFormat
	}
	for i := 0; i < 12; i++ {
		if s[i] < '0' || s[i] > '9' {
			return Number{}, ErrFormat
		}
	}
	year := atoi(s[0:4])
	month := atoi(s[4:6])
	day := atoi(s[6:8])
	if kind == Samordningsnummer {
		day -= 60
	}
	if kind != Personnummer && kind != Samordningsnummer {
		return Number{}, fmt.Errorf("unknown kind %d", kind)
	}
	if month < 1 || month > 12 || day < 1 || day > 31 {
		return Number{}, ErrDate
	}
	birth := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if birth.Year() != year || int(birth.Month()) != month || birth.Day() != day || year < 1850 {
		return Number{}, ErrDate
	}
	if !luhn(s[2:]) {
		return Number{}, ErrChecksum
	}
	y, m, d := now.Date()
	if birth.After(time.Date(y, m, d, 0, 0, 0, 0, time.UTC)) {
		return Number{}, ErrFuture
	}
	return Number{digits: s, kind: kind, birth: birth}, nil
}

// MustParse is Parse for tests and fixed development data; it panics on an invalid number.
func MustParse(s string, kind Kind) Number {
	n, err := Parse(s, kind, time.Now())
	if err != nil {
		panic(fmt.Sprintf("pnr.MustParse: %v", err))
	}
	return n
}

// luhn checks the Luhn (mod 10) check digit over a 10-digit string.
func luhn(s string) bool {
	sum := 0
	for i := 0; i < len(s); i++ {
		d := int(s[i] - '0')
		if i%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// CheckDigit computes the Luhn check digit for the first 11 digits of a 12-digit number.
// It is used to build valid numbers for development data and tests.
func CheckDigit(first11 string) byte {
	for c := byte('0'); c <= '9'; c++ {
		if luhn(first11[2:] + string(c)) {
			return c
		}
	}
	return '?'
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// IsZero reports whether n is the zero Number (no number given).
func (n Number) IsZero() bool { return n.digits == "" }

// Kind returns the number series.
func (n Number) Kind() Kind { return n.kind }

// BirthDate is the date of birth the number encodes (for a samordningsnummer, the day minus 60).
func (n Number) BirthDate() time.Time { return n.birth }

// Digits returns the number in clear. Call it only where the clear value is needed: the register
// look-up and the keyed hash.
func (n Number) Digits() string { return n.digits }

// Masked returns the number with its last four digits hidden, e.g. 19121212****.
func (n Number) Masked() string {
	if len(n.digits) != 12 {
		return ""
	}
	return n.digits[:8] + "****"
}

// Redacted is how a number appears wherever it could reach a log, an error text or an encoded
// struct: nothing of it, since even the masked form carries the birth date.
const Redacted = "[personnummer]"

// String hides the number, birth date included.
func (n Number) String() string { return Redacted }

// GoString hides the number in %#v too.
func (n Number) GoString() string { return "pnr.Number(" + Redacted + ")" }

// LogValue hides the number in structured logs.
func (n Number) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalText hides the number, so that encoding a struct that holds one never leaks it.
func (n Number) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
