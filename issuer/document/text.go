package document

import (
	"strings"
	"unicode"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// The PDF uses the standard Helvetica and Courier fonts, which every PDF
// reader has and which need no embedding; their text is encoded in
// Windows-1252 (cp1252), which covers Swedish (Å Ä Ö) and the other Western
// European languages. The encoder from golang.org/x/text reports each rune it
// cannot encode, where the translator shipped with fpdf silently prints a dot
// instead, so a name can be checked before it is printed.

// cp1252 encodes s for the standard fonts and reports whether every rune
// could be encoded exactly.
func cp1252(s string) (string, bool) {
	var b strings.Builder
	b.Grow(len(s))
	exact := true
	for _, r := range s {
		c, ok := charmap.Windows1252.EncodeRune(r)
		if !ok {
			exact = false
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), exact
}

// cp1252Folded encodes s for the standard fonts, first stripping accents
// from letters that have no cp1252 form of their own (ő becomes o, č becomes
// c) and then printing any rune still left over as '?'. It serves the
// descriptive rows (facility, manufacturer), where a letter printed without
// its accent is better than no certificate; names are never folded.
func cp1252Folded(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if c, ok := charmap.Windows1252.EncodeRune(r); ok {
			b.WriteByte(c)
			continue
		}
		b.WriteByte(foldRune(r))
	}
	return b.String()
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
