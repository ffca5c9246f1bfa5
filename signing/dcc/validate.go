package dcc

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sedcc/dcc/signing/valueset"
)

// MaxLength is the schema's limit, in characters, on every free-text field and on the UVCI.
const MaxLength = 80

// Problem codes carried by FieldError.Code.
const (
	CodeRequired      = "required"         // a required field is empty
	CodeMaxLength     = "max-length"       // longer than the schema allows
	CodePattern       = "pattern"          // does not match the schema's pattern
	CodeDate          = "date"             // not an RFC 3339 full-date
	CodeDateTime      = "date-time"        // not an RFC 3339 date-time with offset
	CodeMinimum       = "minimum"          // a dose number below 1
	CodeGroup         = "group"            // not exactly one of v, t, r with exactly one entry
	CodeValueSet      = "valueset-unknown" // a code that is not in its EU value set
	CodeTransliterate = "transliteration"  // a name with a character ICAO 9303 does not map
)

// FieldError is one problem with one field. Field is the JSON path in the payload, e.g.
// "nam.fnt" or "v[0].dt".
type FieldError struct {
	Field   string
	Code    string
	Message string
	Err     error // the underlying cause, if any (e.g. ErrTransliteration)
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Unwrap returns the underlying cause.
func (e *FieldError) Unwrap() error { return e.Err }

// ValidationError holds every problem found in a payload. errors.As reaches each *FieldError.
type ValidationError struct {
	Problems []*FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
	}
	return "invalid DCC payload: " + strings.Join(parts, "; ")
}

// Unwrap exposes the single problems to errors.Is and errors.As.
func (e *ValidationError) Unwrap() []error {
	out := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p
	}
	return out
}

// Hand-written forms of the schema's patterns: Validate runs on every certificate signed.

// validVersion: three dot-separated decimal numbers (the schema's ^\d+.\d+.\d+$, with the dots
// taken literally).
func validVersion(v string) bool {
	parts := 0
	for _, part := range strings.Split(v, ".") {
		if part == "" || !allDigits(part) {
			return false
		}
		parts++
	}
	return parts == 3
}

// validDOB: ^((19|20)\d\d(-\d\d){0,2}){0,1}$, i.e. empty, YYYY, YYYY-MM or YYYY-MM-DD with the
// year 1900-2099.
func validDOB(v string) bool {
	switch len(v) {
	case 0:
		return true
	case 4, 7, 10:
	default:
		return false
	}
	if !(strings.HasPrefix(v, "19") || strings.HasPrefix(v, "20")) || !allDigits(v[2:4]) {
		return false
	}
	for i := 4; i < len(v); i += 3 {
		if v[i] != '-' || !allDigits(v[i+1:i+3]) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validStandardised: ^[A-Z<]*$.
func validStandardised(s string) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] < 'A' || s[i] > 'Z') && s[i] != '<' {
			return false
		}
	}
	return true
}

// validCountry: one to ten capital letters (the schema's [A-Z]{1,10}, anchored).
func validCountry(s string) bool {
	if len(s) < 1 || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// validFullDateForm: YYYY-MM-DD by shape; the calendar is checked separately.
func validFullDateForm(s string) bool {
	return len(s) == 10 && s[4] == '-' && s[7] == '-' && allDigits(s[:4]) && allDigits(s[5:7]) && allDigits(s[8:])
}

type checker struct{ problems []*FieldError }

// Every check takes the field as prefix and name, joined only when a problem is recorded, so a
// valid payload costs no allocations here.
func (c *checker) add(prefix, name, code, format string, args ...any) {
	c.problems = append(c.problems, &FieldError{Field: prefix + name, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) maxLen(prefix, name, v string) {
	if len(v) <= MaxLength {
		return
	}
	if n := utf8.RuneCountInString(v); n > MaxLength {
		c.add(prefix, name, CodeMaxLength, "%d characters, at most %d allowed", n, MaxLength)
	}
}

func (c *checker) required(prefix, name, v string) bool {
	if v == "" {
		c.add(prefix, name, CodeRequired, "required")
		return false
	}
	return true
}

func (c *checker) text(prefix, name, v string, required bool) {
	if required && !c.required(prefix, name, v) {
		return
	}
	c.maxLen(prefix, name, v)
}

func (c *checker) country(prefix, name, v string) {
	if c.required(prefix, name, v) && !validCountry(v) {
		c.add(prefix, name, CodePattern, "%q is not a country code of 1 to 10 capital letters", v)
	}
}

func (c *checker) date(prefix, name, v string) {
	if !c.required(prefix, name, v) {
		return
	}
	if !validFullDateForm(v) {
		c.add(prefix, name, CodeDate, "%q is not a date YYYY-MM-DD", v)
		return
	}
	if _, err := time.Parse(time.DateOnly, v); err != nil {
		c.add(prefix, name, CodeDate, "%q is not a calendar date", v)
	}
}

func (c *checker) dateTime(prefix, name, v string) {
	if !c.required(prefix, name, v) {
		return
	}
	// RFC 3339 (the schema's date-time format): a time zone offset or Z is required.
	if len(v) < 20 || (v[10] != 'T' && v[10] != 't') {
		c.add(prefix, name, CodeDateTime, "%q is not an RFC 3339 date-time with a time zone offset", v)
		return
	}
	if _, err := time.Parse(time.RFC3339Nano, strings.ToUpper(v)); err != nil {
		c.add(prefix, name, CodeDateTime, "%q is not an RFC 3339 date-time with a time zone offset", v)
	}
}

func (c *checker) dose(prefix, name string, v int) {
	if v < 1 {
		c.add(prefix, name, CodeMinimum, "%d is below the minimum of 1", v)
	}
}

func (c *checker) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: c.problems}
}

// entryPrefix returns "v[0]." and the like without formatting in the common case.
func entryPrefix(group string, i int) string {
	if i == 0 {
		switch group {
		case "v":
			return "v[0]."
		case "t":
			return "t[0]."
		case "r":
			return "r[0]."
		}
	}
	return fmt.Sprintf("%s[%d].", group, i)
}

// Validate checks the payload against every limit of the DCC JSON schema (1.3.x): required
// fields, lengths, patterns, date and date-time formats, dose minimums, and exactly one group
// with exactly one entry. It is stricter than the schema where the schema is loose by accident:
// required strings must not be empty, the version's dots are literal and the country pattern
// is anchored. The error is a *ValidationError listing every problem.
func (c *Certificate) Validate() error {
	var ch checker
	if ch.required("", "ver", c.Version) && !validVersion(c.Version) {
		ch.add("", "ver", CodePattern, "%q is not a semantic version", c.Version)
	}
	c.Name.validate(&ch)
	if !validDOB(c.DateOfBirth) {
		ch.add("", "dob", CodePattern, "%q is not YYYY-MM-DD, YYYY-MM, YYYY (1900 to 2099) or empty", c.DateOfBirth)
	}
	groups := 0
	for _, g := range [...]struct {
		name string
		n    int
	}{{"v", len(c.Vaccination)}, {"t", len(c.Test)}, {"r", len(c.Recovery)}} {
		if g.n == 0 {
			continue
		}
		groups++
		if g.n != 1 {
			ch.add("", g.name, CodeGroup, "%d entries, exactly 1 allowed", g.n)
		}
	}
	if groups != 1 {
		ch.add("", "v|t|r", CodeGroup, "%d groups present, exactly one of v, t and r required", groups)
	}
	for i, v := range c.Vaccination {
		p := entryPrefix("v", i)
		ch.required(p, "tg", v.Disease)
		ch.required(p, "vp", v.Vaccine)
		ch.required(p, "mp", v.Product)
		ch.required(p, "ma", v.Manufacturer)
		ch.dose(p, "dn", v.DoseNumber)
		ch.dose(p, "sd", v.TotalDoses)
		ch.date(p, "dt", v.Date)
		ch.country(p, "co", v.Country)
		ch.text(p, "is", v.Issuer, true)
		ch.text(p, "ci", v.ID, true)
	}
	for i, t := range c.Test {
		p := entryPrefix("t", i)
		ch.required(p, "tg", t.Disease)
		ch.required(p, "tt", t.Type)
		ch.text(p, "nm", t.Name, false)
		ch.dateTime(p, "sc", t.SampleCollected)
		ch.required(p, "tr", t.Result)
		ch.text(p, "tc", t.Centre, false)
		ch.country(p, "co", t.Country)
		ch.text(p, "is", t.Issuer, true)
		ch.text(p, "ci", t.ID, true)
	}
	for i, r := range c.Recovery {
		p := entryPrefix("r", i)
		ch.required(p, "tg", r.Disease)
		ch.date(p, "fr", r.FirstPositive)
		ch.country(p, "co", r.Country)
		ch.text(p, "is", r.Issuer, true)
		ch.date(p, "df", r.ValidFrom)
		ch.date(p, "du", r.ValidUntil)
		ch.text(p, "ci", r.ID, true)
	}
	return ch.err()
}

func (n *Name) validate(ch *checker) {
	ch.maxLen("nam.", "fn", n.FamilyName)
	ch.maxLen("nam.", "gn", n.GivenName)
	for _, f := range [...]struct{ name, v string }{{"fnt", n.FamilyNameStandardised}, {"gnt", n.GivenNameStandardised}} {
		ch.maxLen("nam.", f.name, f.v)
		if !validStandardised(f.v) {
			ch.add("nam.", f.name, CodePattern, "%q holds characters other than A-Z and <", f.v)
		}
	}
	if n.FamilyNameStandardised == "" && n.GivenNameStandardised == "" {
		ch.add("nam.", "fnt", CodeRequired, "a standardised family name (fnt) or given name (gnt) is required")
	}
}

// ValidateCodes checks every coded field against the EU value sets in cat. A code must be in
// its set; codes the set marks inactive are accepted, as older certificates still carry them.
// The error is a *ValidationError with code CodeValueSet per unknown code.
func (c *Certificate) ValidateCodes(cat *valueset.Catalogue) error {
	if cat == nil {
		return errors.New("validate codes: no value set catalogue")
	}
	var ch checker
	check := func(field, set, code string, optional bool) {
		if optional && code == "" {
			return
		}
		if found, _ := cat.Contains(set, code); !found {
			ch.add("", field, CodeValueSet, "%q is not in value set %s", code, set)
		}
	}
	for i, v := range c.Vaccination {
		p := fmt.Sprintf("v[%d].", i)
		check(p+"tg", valueset.DiseaseAgent, v.Disease, false)
		check(p+"vp", valueset.VaccineProphylaxis, v.Vaccine, false)
		check(p+"mp", valueset.VaccineProduct, v.Product, false)
		check(p+"ma", valueset.VaccineManufacturer, v.Manufacturer, false)
		check(p+"co", valueset.Country, v.Country, false)
	}
	for i, t := range c.Test {
		p := fmt.Sprintf("t[%d].", i)
		check(p+"tg", valueset.DiseaseAgent, t.Disease, false)
		check(p+"tt", valueset.TestType, t.Type, false)
		check(p+"ma", valueset.TestManufacturer, t.Device, true)
		check(p+"tr", valueset.TestResult, t.Result, false)
		check(p+"co", valueset.Country, t.Country, false)
	}
	for i, r := range c.Recovery {
		p := fmt.Sprintf("r[%d].", i)
		check(p+"tg", valueset.DiseaseAgent, r.Disease, false)
		check(p+"co", valueset.Country, r.Country, false)
	}
	return ch.err()
}
