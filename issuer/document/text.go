package document

import (
	"unicode"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// The PDF sets text in Windows-1252 (cp1252), which covers Swedish (Å Ä Ö)
// and the other Western European languages, in the standard Helvetica fonts,
// which every PDF reader has and which need no embedding. The encoder from
// golang.org/x/text reports each rune it cannot encode, so text outside it can
// go to an embedded font instead.

// cp1252 encodes s for the standard fonts and reports whether every rune
// could be encoded exactly.
func cp1252(s string) (string, bool) {
	return string(appendCP1252Folded(nil, s)), isCP1252(s)
}

// isCP1252 reports whether every rune of s has a Windows-1252 code.
func isCP1252(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			for _, r := range s[i:] {
				if _, ok := charmap.Windows1252.EncodeRune(r); !ok {
					return false
				}
			}
			return true
		}
	}
	return true
}

// cp1252Folded encodes s for the standard fonts, first stripping accents
// from letters that have no cp1252 form of their own (ő becomes o, č becomes
// c) and then printing any rune still left over as '?'. It serves the
// descriptive rows (facility, manufacturer) when no embedded font prints them,
// where a letter printed without its accent is better than no certificate;
// names are never folded.
func cp1252Folded(s string) string {
	return string(appendCP1252Folded(nil, s))
}

func appendCP1252Folded(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			b = append(b, s[:i]...)
			for _, r := range s[i:] {
				if c, ok := charmap.Windows1252.EncodeRune(r); ok {
					b = append(b, c)
					continue
				}
				b = append(b, foldRune(r))
			}
			return b
		}
	}
	return append(b, s...)
}

// foldRune returns the cp1252 form of r's base letter, or '?'.
func foldRune(r rune) byte {
	for _, d := range norm.NFD.String(string(r)) {
		if unicode.Is(unicode.Mn, d) {
			continue
		}
		if c, ok := charmap.Windows1252.EncodeRune(d); ok {
			return c
		}
	}
	return '?'
}
