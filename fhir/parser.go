package fhir

import (
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer/policy"
	"github.com/sedcc/dcc/signing/valueset"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxTestAge = 72 * time.Hour
	DefaultClockSkew  = 5 * time.Minute
)

// Options configure a Parser. Zero values take the defaults above.
type Options struct {
	// Now is the clock every time rule is measured against (default time.Now).
	Now func() time.Time
	// MaxTestAge is how old a test sample may be for a test certificate (default 72 h).
	MaxTestAge time.Duration
	// ClockSkew is how far in the future a time may lie before it is refused (default 5 min).
	ClockSkew time.Duration
	// Policy is the issuance policy; its recovery window decides which positive samples qualify
	// for a recovery certificate (the zero value is the default policy). The issuer writes the
	// certificate's dates from the same value.
	Policy policy.Issuance
	// Values are the EU value sets (default: the embedded ones, valueset.Load).
	Values *valueset.Catalogue
}

// Parser reads provider requests into domain values. It is safe for concurrent use.
type Parser struct {
	now                   func() time.Time
	maxTestAge, clockSkew time.Duration
	policy                policy.Issuance
	values                *valueset.Catalogue
	validate              *validator.Validate
}

// NewParser builds a Parser. With o.Values nil it loads the embedded value sets, which fails
// only when the binary itself is broken (and then panics, at wiring time).
func NewParser(o Options) *Parser {
	p := &Parser{
		now:        o.Now,
		maxTestAge: o.MaxTestAge,
		clockSkew:  o.ClockSkew,
		values:     o.Values,
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.maxTestAge <= 0 {
		p.maxTestAge = DefaultMaxTestAge
	}
	if p.clockSkew <= 0 {
		p.clockSkew = DefaultClockSkew
	}
	pol, err := policy.New(o.Policy)
	if err != nil {
		panic(fmt.Sprintf("fhir: %v", err)) // a wiring error: cmd checks the policy first
	}
	p.policy = pol
	if p.values == nil {
		p.values = valueset.MustLoad()
	}
	p.validate = newValidator()
	return p
}

// Element rules that read best as validator tags. Each rule names the problem code its tags
// raise; the texts say what to send instead.
type rule struct {
	tags string
	code map[string]string // failing validator tag -> problem code
	text map[string]string // failing validator tag -> what to send instead
}

// IdentifierMaxLen is the longest provider identifier (Observation.identifier[0].value,
// Immunization.identifier[0].value) accepted.
const IdentifierMaxLen = 64

// FreeTextMaxLen is the longest free text (names, testing centre, NAAT test name) accepted: what
// the certificate's fields hold (DCC schema 1.3: fn, gn, tc and nm are at most 80 characters).
const FreeTextMaxLen = 80

var providerIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:/-]+$`)

var (
	ruleProviderID = rule{
		tags: fmt.Sprintf("max=%d,providerid", IdentifierMaxLen),
		code: map[string]string{"max": problem.CodeIdentifierFormat, "providerid": problem.CodeIdentifierFormat},
		text: map[string]string{
			"max":        fmt.Sprintf("Send your identifier for this result as 1 to %d characters of A-Z a-z 0-9 and - . _ : /, e.g. a UUID; it is longer.", IdentifierMaxLen),
			"providerid": fmt.Sprintf("Send your identifier for this result as 1 to %d characters of A-Z a-z 0-9 and - . _ : /, e.g. a UUID; it has other characters.", IdentifierMaxLen),
		},
	}
	ruleFreeText = rule{
		tags: fmt.Sprintf("max=%d,freetext", FreeTextMaxLen),
		code: map[string]string{"max": problem.CodeTextTooLong, "freetext": problem.CodeTextInvalid},
		text: map[string]string{
			"max":      fmt.Sprintf("Send at most %d characters here; the certificate holds no more.", FreeTextMaxLen),
			"freetext": "Send printable text here, without control characters such as line breaks or tabs.",
		},
	}
)

func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	// Registration fails only for an empty tag or nil function.
	_ = v.RegisterValidation("providerid", func(fl validator.FieldLevel) bool {
		return providerIDPattern.MatchString(fl.Field().String())
	})
	_ = v.RegisterValidation("freetext", func(fl validator.FieldLevel) bool {
		_, _, bad := firstUnprintable(fl.Field().String())
		return !bad
	})
	return v
}

// check applies a rule to one value and reports each failing tag at path.
func (p *Parser) check(r *report, path, value string, ru rule) {
	err := p.validate.Var(value, ru.tags)
	var ve validator.ValidationErrors
	if !errors.As(err, &ve) {
		return
	}
	for _, fe := range ve {
		code, ok := ru.code[fe.Tag()]
		if !ok {
			code = problem.CodeTextInvalid
		}
		text := ru.text[fe.Tag()]
		if fe.Tag() == "freetext" {
			text = unprintableText(value)
		}
		r.add(code, path, text)
	}
}

// firstUnprintable finds the first character of s that may not stand in free text that ends up in
// a certificate or a PDF, with its 1-based position in characters. Allowed are letters, marks
// (combining accents), numbers, punctuation, symbols and spaces. Refused are control characters,
// format characters (Unicode category Cf: bidirectional overrides such as U+202E, zero-width
// spaces and joiners, the byte-order mark, tag characters), line and paragraph separators,
// private-use and unassigned code points, and bytes that are not UTF-8: each can make the text
// a verifier or a person sees differ from the text that was signed.
func firstUnprintable(s string) (r rune, pos int, found bool) {
	pos = 0
	for i, c := range s {
		pos++
		if c == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return c, pos, true
			}
		}
		if !unicode.In(c, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Zs) {
			return c, pos, true
		}
	}
	return 0, 0, false
}

// unprintableText says which character to remove, and where.
func unprintableText(s string) string {
	c, pos, found := firstUnprintable(s)
	if !found {
		return "Send printable text here."
	}
	what := "a control character"
	switch {
	case c == utf8.RuneError:
		return fmt.Sprintf("Bytes that are not UTF-8 at character %d. Send the text UTF-8 encoded.", pos)
	case unicode.Is(unicode.Cf, c):
		what = "an invisible formatting character"
	case unicode.In(c, unicode.Zl, unicode.Zp):
		what = "a line or paragraph separator"
	case unicode.Is(unicode.Co, c):
		what = "a private-use character"
	case !unicode.IsControl(c):
		what = "an unassigned character"
	}
	return fmt.Sprintf("U+%04X at position %d is %s, which may not appear in a certificate. Send the text with letters, digits, punctuation and spaces only.", c, pos, what)
}
