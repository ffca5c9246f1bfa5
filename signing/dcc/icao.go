package dcc

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// ErrTransliteration reports a character that the ICAO 9303 tables do not map.
var ErrTransliteration = errors.New("no ICAO 9303 transliteration")

// icaoTable holds the ICAO Doc 9303 Part 3 (8th edition, section 6, tables A and B)
// transliterations that are not simply "drop the diacritic": the multi-letter Latin forms, and
// the Cyrillic and Greek tables. Keys are upper-case. A Latin letter with diacritics that is not
// listed here is reduced to its base letter, as table A does for all of them.
var icaoTable = map[rune]string{
	// Latin, table A: the letters with a recommended multi-letter form.
	'Ä': "AE", 'Å': "AA", 'Æ': "AE", 'Ö': "OE", 'Ø': "OE", 'Ü': "UE", 'Œ': "OE",
	'ß': "SS", 'ẞ': "SS", 'Þ': "TH", 'Ð': "D", 'Đ': "D", 'Ħ': "H", 'Ĳ': "IJ", 'Ŀ': "L",
	'Ł': "L", 'Ŋ': "N", 'Ŧ': "T", 'ı': "I", 'ĸ': "K",
	// Cyrillic, table B.
	'А': "A", 'Б': "B", 'В': "V", 'Г': "G", 'Ґ': "G", 'Ѓ': "G", 'Д': "D", 'Ђ': "D",
	'Е': "E", 'Ё': "E", 'Є': "IE", 'Ж': "ZH", 'З': "Z", 'Ѕ': "DZ", 'И': "I", 'І': "I",
	'Ї': "I", 'Й': "I", 'Ј': "J", 'К': "K", 'Ќ': "K", 'Л': "L", 'Љ': "LJ", 'М': "M",
	'Н': "N", 'Њ': "NJ", 'О': "O", 'П': "P", 'Р': "R", 'С': "S", 'Т': "T", 'Ћ': "C",
	'У': "U", 'Ў': "U", 'Ф': "F", 'Х': "KH", 'Ц': "TS", 'Ч': "CH", 'Џ': "DZ", 'Ш': "SH",
	'Щ': "SHCH", 'Ъ': "IE", 'Ы': "Y", 'Ь': "", 'Э': "E", 'Ю': "IU", 'Я': "IA",
	// Greek, table B.
	'Α': "A", 'Ά': "A", 'Β': "V", 'Γ': "G", 'Δ': "D", 'Ε': "E", 'Έ': "E", 'Ζ': "Z",
	'Η': "I", 'Ή': "I", 'Θ': "TH", 'Ι': "I", 'Ί': "I", 'Ϊ': "I", 'Κ': "K", 'Λ': "L",
	'Μ': "M", 'Ν': "N", 'Ξ': "X", 'Ο': "O", 'Ό': "O", 'Π': "P", 'Ρ': "R", 'Σ': "S",
	'Τ': "T", 'Υ': "Y", 'Ύ': "Y", 'Ϋ': "Y", 'Φ': "F", 'Χ': "CH", 'Ψ': "PS", 'Ω': "O",
	'Ώ': "O",
}

// Transliterate returns the ICAO 9303 standardised form of a name for fnt and gnt: upper-case
// A-Z, with spaces and hyphens (and runs of them) becoming a single filler '<', apostrophes,
// full stops and commas omitted, leading and trailing separators removed, and the result cut to
// MaxLength characters. Å becomes AA, Ä and Æ AE, Ö and Ø OE, Ü UE, ß SS, other Latin letters
// lose their diacritics (É -> E, Ç -> C, Ł -> L), Cyrillic and Greek follow ICAO table B.
// A character the tables do not cover (digits, other scripts, symbols) is an error wrapping
// ErrTransliteration that names it; nothing is silently dropped.
func Transliterate(name string) (string, error) {
	var b strings.Builder
	b.Grow(len(name))
	pendingFiller := false
	for i, r := range norm.NFC.String(name) {
		switch {
		case r == ' ' || r == '-' || r == '\u00a0' || r == '\u2010' || r == '\u2011' || r == '<':
			pendingFiller = b.Len() > 0
			continue
		case r == '\'' || r == '\u2019' || r == '\u02bc' || r == '.' || r == ',':
			continue
		}
		s, ok := transliterateRune(r)
		if !ok {
			return "", fmt.Errorf("%w for %q (U+%04X) at byte %d of the name", ErrTransliteration, r, r, i)
		}
		if s == "" {
			continue
		}
		if pendingFiller {
			b.WriteByte('<')
			pendingFiller = false
		}
		b.WriteString(s)
	}
	out := b.String()
	if len(out) > MaxLength {
		out = strings.TrimRight(out[:MaxLength], "<")
	}
	return out, nil
}

func transliterateRune(r rune) (string, bool) {
	u := unicode.ToUpper(r)
	if u >= 'A' && u <= 'Z' {
		return string(u), true
	}
	if s, ok := icaoTable[u]; ok {
		return s, true
	}
	if u == 'Σ' || r == 'ς' {
		return "S", true
	}
	// Latin letters with diacritics: the canonical decomposition is a base letter A-Z followed by
	// combining marks only.
	d := norm.NFD.String(string(u))
	base := d[0]
	if base < 'A' || base > 'Z' {
		return "", false
	}
	for _, m := range d[1:] {
		if !unicode.Is(unicode.Mn, m) {
			return "", false
		}
	}
	return string(rune(base)), true
}

// NewName returns a Name with the given family and given names and their standardised forms.
// Either may be empty, not both. The error names the field ("nam.fn" or "nam.gn") whose
// transliteration failed.
func NewName(family, given string) (Name, error) {
	n := Name{FamilyName: strings.TrimSpace(family), GivenName: strings.TrimSpace(given)}
	var err error
	if n.FamilyNameStandardised, err = Transliterate(n.FamilyName); err != nil {
		return Name{}, &ValidationError{Problems: []*FieldError{{Field: "nam.fn", Code: CodeTransliterate, Message: err.Error(), Err: err}}}
	}
	if n.GivenNameStandardised, err = Transliterate(n.GivenName); err != nil {
		return Name{}, &ValidationError{Problems: []*FieldError{{Field: "nam.gn", Code: CodeTransliterate, Message: err.Error(), Err: err}}}
	}
	if n.FamilyNameStandardised == "" && n.GivenNameStandardised == "" {
		return Name{}, &ValidationError{Problems: []*FieldError{{Field: "nam.fn", Code: CodeRequired, Message: "a family name or a given name is required"}}}
	}
	return n, nil
}
