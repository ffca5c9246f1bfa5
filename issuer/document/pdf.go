package document

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// Page geometry of the printed certificate, in millimetres (A4 portrait),
// measured from the top left corner.
const (
	pageW       = 210.0
	pageH       = 297.0
	margin      = 15.0
	contentW    = pageW - 2*margin
	bandH       = 30.0 // height of the headline band
	qrSide      = 72.0 // printed QR code, about 0.75 mm per module for a 600-character HC1
	qrX         = pageW - margin - qrSide
	personW     = qrX - margin - 6 // left column beside the QR code
	labelW      = 78.0             // label column of the detail table
	valueW      = contentW - labelW
	footerH     = 22.0
	bottomLimit = pageH - margin - footerH
	cellMargin  = 1.0         // text inset from the left of its box
	ptPerMM     = 72.0 / 25.4 // PDF user space units (points) per millimetre
	sandboxMark = "SANDBOX - NOT VALID / INTE GILTIGT"
)

// Colours, as 0xRRGGBB.
const (
	black      = 0x000000
	white      = 0xffffff
	euBlue     = 0x003399
	labelGrey  = 0x5a5a5a
	ruleGrey   = 0xc8c8c8
	bandGrey   = 0xebeef5
	sandboxRed = 0xc00000
	sandboxBg  = 0xf6d5d5
)

// Text styles: the three standard fonts every PDF reader has.
type style int

const (
	regular style = iota
	bold
	oblique
)

var standardFonts = [...]struct {
	resource, base string
	widths         *[256]uint16
}{
	regular: {"F1", "Helvetica", &helveticaWidths},
	bold:    {"F2", "Helvetica-Bold", &helveticaBoldWidths},
	oblique: {"F3", "Helvetica-Oblique", &helveticaObliqueWidths},
}

// Object numbers of the parts every PDF has; pages follow the font subsets.
const (
	objCatalog = 1
	objPages   = 2
	objInfo    = 3
	objFonts   = 4 // F1 to F3 are objects 4 to 6
	objQR      = 7
)

// sharedFonts cuts the font subsets once per process, on first use. When the
// font file cannot be read, text outside Windows-1252 falls back as described
// at PDF.
var sharedFonts = sync.OnceValue(func() *unicodeFonts {
	fs, err := loadUnicodeFonts(DefaultFontFile)
	if err != nil {
		return nil
	}
	return fs
})

// PDF renders c as a printable one-page A4 certificate: a bilingual headline
// with the kind, the holder's names and date of birth, the QR code carrying
// the HC1 string (72 mm a side), the kind's rows, the certificate's issuer,
// identifier and dates, and a short notice. Labels are in Swedish and
// English. A sandbox certificate carries the mark "SANDBOX - NOT VALID /
// INTE GILTIGT" on every page.
//
// Text in Windows-1252 (Swedish and the other Western European languages) is
// set in the standard Helvetica fonts, which need no embedding. Other text,
// such as the names Dvořák-Wałęsa, Nguyễn or Παπαδοπούλου, is set in DejaVu
// Sans (DefaultFontFile), of which a subset per script (Latin, Greek,
// Cyrillic) is cut once per process and embedded in the PDFs that need it.
// A native name no subset can print is left out rather than printed wrongly:
// the standardised ICAO 9303 name, which is always printed, stands for it.
// Other values are folded to their unaccented letters where needed.
//
// The page is assembled directly: fixed objects (fonts, catalogue) are
// written from prepared text, the QR code is the PNG's own compressed pixels
// as a Flate image with the PNG predictor, and only the text of the page is
// laid out per certificate.
//
// The output depends only on c: the creation date is c.IssuedAt, with its
// zone, and the file carries no random document identifier, so the same
// certificate always renders to the same bytes.
func PDF(c Certificate) ([]byte, error) {
	r, err := Render(c)
	if err != nil {
		return nil, err
	}
	return r.PDF, nil
}

// Rendered is a certificate's QR code image and printable PDF, made from one QR encoding.
type Rendered struct {
	QR            []byte // PNG
	Width, Height int
	PDF           []byte
}

// Render makes the QR code image (default options) and the PDF of c, encoding the QR code once
// and placing that same image in the PDF.
func Render(c Certificate) (Rendered, error) {
	if _, _, ok := c.Kind.title(); !ok {
		return Rendered{}, fmt.Errorf("pdf: unknown certificate kind %q", c.Kind)
	}
	if c.IssuedAt.IsZero() {
		return Rendered{}, errors.New("pdf: issuance time is zero; it dates the document and keeps the output reproducible")
	}
	img, err := renderQR(defaultLayouts(), c.HC1, QROptions{})
	if err != nil {
		return Rendered{}, fmt.Errorf("pdf: %w", err)
	}
	pdf, err := writePDF(c, img, sharedFonts())
	if err != nil {
		return Rendered{}, err
	}
	return Rendered{QR: img.data, Width: img.width, Height: img.width, PDF: pdf}, nil
}

// nameRows returns the name rows to print: the native name when it can be
// printed exactly, and the standardised name when it is given.
func nameRows(c Certificate, fonts *unicodeFonts) ([]Field, error) {
	var rows []Field
	native := norm.NFC.String(joinName(c.FamilyName, c.GivenName))
	if native != "" && printable(native, fonts) {
		rows = append(rows, Field{"Efternamn, förnamn", "Surname(s), forename(s)", native})
	}
	std := joinName(c.FamilyNameStd, c.GivenNameStd)
	if std != "" {
		if !isCP1252(std) {
			return nil, errors.New("standardised name holds characters outside A to Z and '<'")
		}
		rows = append(rows, Field{"Standardiserat namn", "Standardised name (ICAO 9303)", std})
	}
	if len(rows) == 0 {
		return nil, errors.New("no printable name: the native name is empty or has characters no font here prints, and no standardised name is given")
	}
	return rows, nil
}

// printable reports whether s can be set exactly, in a standard font or a subset.
func printable(s string, fonts *unicodeFonts) bool {
	if isCP1252(s) {
		return true
	}
	_, ok := fonts.covering(s)
	return ok
}

func joinName(family, given string) string {
	switch {
	case family == "":
		return given
	case given == "":
		return family
	}
	return family + ", " + given
}

// page is the content stream of one page being drawn.
type page struct {
	b []byte
}

// writer lays out one certificate.
type writer struct {
	c       Certificate
	img     qrPNG
	fonts   *unicodeFonts
	used    [8]bool // subsets used, by index
	pages   []*page
	cur     *page
	scratch []byte // cp1252 bytes of the text being set
	lines   []string
}

func (w *writer) num(v float64) {
	w.cur.b = strconv.AppendFloat(w.cur.b, v, 'f', 2, 64)
	w.cur.b = append(w.cur.b, ' ')
}

func (w *writer) op(s string) { w.cur.b = append(w.cur.b, s...) }

func (w *writer) colour(c int, op string) {
	for _, v := range [3]int{c >> 16 & 0xff, c >> 8 & 0xff, c & 0xff} {
		w.cur.b = strconv.AppendFloat(w.cur.b, float64(v)/255, 'f', 3, 64)
		w.cur.b = append(w.cur.b, ' ')
	}
	w.op(op)
}

// rect fills a rectangle given in millimetres from the top left.
func (w *writer) rect(x, y, wd, h float64, c int) {
	w.colour(c, "rg\n")
	w.num(x * ptPerMM)
	w.num((pageH - y - h) * ptPerMM)
	w.num(wd * ptPerMM)
	w.num(h * ptPerMM)
	w.op("re f\n")
}

func (w *writer) line(x1, y1, x2, y2, width float64, c int) {
	w.colour(c, "RG\n")
	w.num(width * ptPerMM)
	w.op("w\n")
	w.num(x1 * ptPerMM)
	w.num((pageH - y1) * ptPerMM)
	w.op("m ")
	w.num(x2 * ptPerMM)
	w.num((pageH - y2) * ptPerMM)
	w.op("l S\n")
}

// face is how one string is set: a standard font with its cp1252 bytes, or a
// subset with glyph ids.
type face struct {
	st  style
	sub *unicodeFont
}

// faceOf chooses the font for s in style st: the standard font when s is in
// Windows-1252, else the first subset that has all its characters, else the
// standard font with s folded to Windows-1252.
func (w *writer) faceOf(s string, st style) face {
	if isCP1252(s) {
		return face{st: st}
	}
	if u, ok := w.fonts.covering(s); ok {
		return face{st: st, sub: u}
	}
	return face{st: st}
}

// width returns the width of s in millimetres at size points.
func (w *writer) width(s string, f face, size float64) float64 {
	units := 0
	if f.sub != nil {
		units, _ = f.sub.width(s)
	} else {
		for _, c := range w.encode(s) {
			units += int(standardFonts[f.st].widths[c])
		}
	}
	return float64(units) * size / 1000 / ptPerMM
}

// encode returns s in cp1252 (folded) in the writer's scratch buffer.
func (w *writer) encode(s string) []byte {
	w.scratch = appendCP1252Folded(w.scratch[:0], s)
	return w.scratch
}

// show sets s at (x, baseline y) in millimetres.
func (w *writer) show(x, y float64, s string, f face, size float64) {
	w.op("BT /")
	if f.sub != nil {
		w.op(f.sub.resource)
		w.used[(f.sub.object-firstFontObject)/5] = true
	} else {
		w.op(standardFonts[f.st].resource)
	}
	w.op(" ")
	w.num(size)
	w.op("Tf ")
	w.num(x * ptPerMM)
	w.num((pageH - y) * ptPerMM)
	w.op("Td ")
	if f.sub != nil {
		w.op("<")
		for _, r := range s {
			w.cur.b = fmt.Appendf(w.cur.b, "%04X", f.sub.glyph[r])
		}
		w.op(">")
	} else {
		w.op("(")
		for _, c := range w.encode(s) {
			if c == '(' || c == ')' || c == '\\' {
				w.cur.b = append(w.cur.b, '\\')
			}
			w.cur.b = append(w.cur.b, c)
		}
		w.op(")")
	}
	w.op(" Tj ET\n")
}

// runeUnits is the advance of r in face f, in 1/1000 em.
func runeUnits(r rune, f face) int {
	if f.sub != nil {
		return int(f.sub.advance[f.sub.glyph[r]])
	}
	var c byte
	if r < 0x80 {
		c = byte(r)
	} else if e, ok := charmap.Windows1252.EncodeRune(r); ok {
		c = e
	} else {
		c = foldRune(r)
	}
	return int(standardFonts[f.st].widths[c])
}

// wrap splits s into lines no wider than wd millimetres, at spaces where it
// can and inside a word where one word is wider than a line.
func (w *writer) wrap(s string, f face, size, wd float64) []string {
	lines := w.lines[:0]
	limit := int((wd - 2*cellMargin) * ptPerMM * 1000 / size)
	start, lastSpace, units := 0, -1, 0
	for i, r := range s {
		u := runeUnits(r, f)
		if units+u > limit && i > start {
			cut, next := i, i
			if lastSpace > start {
				cut, next = lastSpace, lastSpace+1
			}
			lines = append(lines, s[start:cut])
			start, lastSpace, units = next, -1, 0
			for _, r2 := range s[start:i] {
				units += runeUnits(r2, f)
			}
		}
		if r == ' ' {
			lastSpace = i
		}
		units += u
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	w.lines = lines
	return lines
}

// text draws s wrapped to width wd, one line every lineH millimetres from y,
// and returns the y below the last line. align is 'L' or 'C'.
func (w *writer) text(x, y, wd, lineH float64, s string, st style, size float64, c int, align byte) float64 {
	f := w.faceOf(s, st)
	w.colour(c, "rg\n")
	for _, l := range w.wrap(s, f, size, wd) {
		lx := x + cellMargin
		if align == 'C' {
			lx = x + (wd-w.width(l, f, size))/2
		}
		// Baseline as a text cell of height lineH places it: the middle of
		// the cell plus 0.3 of the font size.
		w.show(lx, y+lineH/2+0.3*size/ptPerMM, l, f, size)
		y += lineH
	}
	return y
}

// lineCount returns how many lines s takes at width wd.
func (w *writer) lineCount(s string, st style, size, wd float64) int {
	return len(w.wrap(s, w.faceOf(s, st), size, wd))
}

func (w *writer) newPage() {
	w.cur = &page{b: make([]byte, 0, 6<<10)}
	w.pages = append(w.pages, w.cur)
	if w.c.Sandbox {
		w.sandbox()
	}
}

// sandbox marks the page as not valid: a red band across the top of the
// headline and the mark set large and light across the page, under the text.
func (w *writer) sandbox() {
	w.op("q ")
	w.colour(sandboxBg, "rg\n")
	// Rotated 35 degrees about the page centre.
	w.op("BT /F2 30 Tf 0.819 0.574 -0.574 0.819 ")
	w.num(70)
	w.num(120)
	w.op("Tm (" + sandboxMark + ") Tj ET Q\n")
}

func (w *writer) headline(kindSV, kindEN string) {
	w.rect(0, 0, pageW, bandH, euBlue)
	w.text(margin, 7, contentW, 9, "EU DIGITALT COVID-INTYG", bold, 20, white, 'L')
	w.text(margin, 16, contentW, 7, "EU DIGITAL COVID CERTIFICATE", regular, 13, white, 'L')
	if w.c.Sandbox {
		w.rect(0, bandH-6, pageW, 6, sandboxRed)
		w.text(margin, bandH-6, contentW, 6, sandboxMark, bold, 10, white, 'L')
	}
	w.text(margin, bandH+5, contentW, 8, kindSV+" / "+kindEN, bold, 16, euBlue, 'L')
}

// stacked draws a label line above its value in a column of width wd and
// returns the y below it.
func (w *writer) stacked(x, y, wd float64, f Field, emphasise bool) float64 {
	y = w.text(x, y, wd, 4, f.LabelSV+" / "+f.LabelEN, regular, 8, labelGrey, 'L')
	st, size := regular, 11.0
	if emphasise {
		st, size = bold, 13
	}
	y = w.text(x, y, wd, size*0.45, f.Value, st, size, black, 'L')
	return y + 3
}

// section draws a shaded heading across the page and returns the y below it.
// It keeps room for at least one row below the heading.
func (w *writer) section(y float64, sv, en string) float64 {
	y = w.room(y, 8+12)
	w.rect(margin, y, contentW, 7, bandGrey)
	w.text(margin+2, y, contentW-4, 7, sv+" / "+en, bold, 10, euBlue, 'L')
	return y + 8
}

// row draws one label/value row of the detail table and returns the y below it.
func (w *writer) row(y float64, f Field) float64 {
	const labelLineH, valueLineH = 3.7, 5.0
	sv := w.lineCount(f.LabelSV, bold, 9, labelW)
	en := w.lineCount(f.LabelEN, oblique, 8, labelW)
	val := w.lineCount(f.Value, regular, 11, valueW)
	h := max(float64(sv+en)*labelLineH, float64(val)*valueLineH) + 2
	y = w.room(y, h)
	yy := w.text(margin, y+1, labelW, labelLineH, f.LabelSV, bold, 9, black, 'L')
	w.text(margin, yy, labelW, labelLineH, f.LabelEN, oblique, 8, labelGrey, 'L')
	w.text(margin+labelW, y+1, valueW, valueLineH, f.Value, regular, 11, black, 'L')
	w.line(margin, y+h, margin+contentW, y+h, 0.2, ruleGrey)
	return y + h
}

// pair draws two fields side by side, each label above its value, leaving
// out an empty one, and returns the y below them.
func (w *writer) pair(y float64, a, b Field) float64 {
	const half = contentW / 2
	fields := [2]Field{a, b}
	n := 0
	for _, f := range fields {
		if f.Value != "" {
			fields[n] = f
			n++
		}
	}
	if n == 0 {
		return y
	}
	y = w.room(y, 13)
	bottom := y
	for i, f := range fields[:n] {
		bottom = max(bottom, w.stacked(margin+float64(i)*half, y+1, half-4, f, false)-2)
	}
	w.line(margin, bottom, margin+contentW, bottom, 0.2, ruleGrey)
	return bottom
}

// room starts a new page when a block of height h does not fit above the
// footer, and returns the y to draw the block at.
func (w *writer) room(y, h float64) float64 {
	if y+h <= bottomLimit {
		return y
	}
	w.footer()
	w.newPage()
	return margin
}

// footer draws the notice at the bottom of the current page, from the
// content prepared once.
func (w *writer) footer() {
	w.cur.b = append(w.cur.b, preparedFooter()...)
}

// preparedFooter is the content of the footer, the same on every page.
var preparedFooter = sync.OnceValue(func() []byte {
	w := &writer{cur: &page{}}
	w.drawFooter()
	return w.cur.b
})

func (w *writer) drawFooter() {
	y := pageH - margin - footerH + 4
	w.line(margin, y, margin+contentW, y, 0.4, euBlue)
	y = w.text(margin, y+2, contentW, 3.8,
		"Detta intyg är inte en resehandling. Uppgifterna i QR-koden är signerade och är de som gäller; "+
			"kontrollera dem med en app för verifiering av EU:s digitala covidintyg.", regular, 8, labelGrey, 'L')
	w.text(margin, y+1, contentW, 3.8,
		"This certificate is not a travel document. The data in the QR code are signed and prevail; "+
			"check them with an EU Digital COVID Certificate verifier app.", regular, 8, labelGrey, 'L')
}

// qrImage places the QR image XObject.
func (w *writer) qrImage(x, y, side float64) {
	w.op("q ")
	w.num(side * ptPerMM)
	w.op("0 0 ")
	w.num(side * ptPerMM)
	w.num(x * ptPerMM)
	w.num((pageH - y - side) * ptPerMM)
	w.op("cm /Q Do Q\n")
}

// writePDF lays out c around its QR code image and writes the file.
func writePDF(c Certificate, img qrPNG, fonts *unicodeFonts) ([]byte, error) {
	kindSV, kindEN, ok := c.Kind.title()
	if !ok {
		return nil, fmt.Errorf("pdf: unknown certificate kind %q", c.Kind)
	}
	names, err := nameRows(c, fonts)
	if err != nil {
		return nil, fmt.Errorf("pdf: %w", err)
	}
	w := &writer{c: c, img: img, fonts: fonts, scratch: make([]byte, 0, 256), lines: make([]string, 0, 8)}
	w.newPage()
	w.headline(kindSV, kindEN)

	top := bandH + 18
	w.qrImage(qrX, top, qrSide)
	w.text(qrX, top+qrSide+1.5, qrSide, 4, "Skanna för att verifiera / Scan to verify", regular, 8, labelGrey, 'C')

	y := top
	for _, r := range names {
		y = w.stacked(margin, y, personW, r, true)
	}
	y = w.stacked(margin, y, personW, Field{"Födelsedatum", "Date of birth", c.BirthDate}, false)

	// The identifier across the page: a UVCI of this issuer runs to some 70 characters without
	// a space, which the column beside the QR code would break.
	y = max(y, top+qrSide+8)
	y = w.text(margin, y, contentW, 4, "Intygets identitet / Unique certificate identifier", regular, 8, labelGrey, 'L')
	y = w.text(margin, y, contentW, 4.5, c.UVCI, regular, 10, black, 'L') + 4
	detailsSV, detailsEN := c.Kind.details()
	y = w.section(y, detailsSV, detailsEN)
	for _, f := range c.Fields {
		y = w.row(y, f)
	}

	y += 4
	y = w.section(y, "Om intyget", "About the certificate")
	y = w.pair(y,
		Field{"Utfärdare", "Certificate issuer", c.Issuer},
		Field{"Utfärdande land", "Member State of issuance", c.Country})
	w.pair(y, Field{"Utfärdat", "Issued", formatTime(c.IssuedAt, dateTimeLayout)}, validity(c))
	w.footer()
	return w.file(), nil
}

// validity is the second field beside the issuance time: for a test, the
// sample time, from which the rules of the country where the certificate is
// used count its validity (the technical expiry of the signed data is no
// validity); for the other kinds, the expiry date.
func validity(c Certificate) Field {
	if c.Kind == KindTest {
		for _, f := range c.Fields {
			if f.LabelEN == sampleTimeLabelEN {
				return Field{"Giltighet räknas från provtagningen", "Validity counts from sample collection", f.Value}
			}
		}
		return Field{}
	}
	return Field{"Giltigt till och med", "Valid until", formatTime(c.ValidUntil, dateLayout)}
}

// pdfDate formats t as a PDF date with its zone: D:YYYYMMDDHHmmSS+HH'mm'.
func pdfDate(b []byte, t time.Time) []byte {
	b = t.AppendFormat(append(b, "D:"...), "20060102150405")
	_, off := t.Zone()
	switch {
	case off == 0:
		return append(b, 'Z')
	case off < 0:
		b = append(b, '-')
		off = -off
	default:
		b = append(b, '+')
	}
	return fmt.Appendf(b, "%02d'%02d'", off/3600, off/60%60)
}

// appendTextString appends s as a PDF text string: PDFDocEncoding (here
// cp1252, folded) when it can, else UTF-16BE with a byte order mark.
func appendTextString(b []byte, s string) []byte {
	if isCP1252(s) {
		b = append(b, '(')
		for _, c := range appendCP1252Folded(nil, s) {
			if c == '(' || c == ')' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, c)
		}
		return append(b, ')')
	}
	b = append(b, "<FEFF"...)
	for _, r := range s {
		if r > 0xffff {
			r = '?'
		}
		b = fmt.Appendf(b, "%04X", r)
	}
	return append(b, '>')
}

// file writes the PDF: catalogue, page tree, information, fonts, QR image,
// the subsets used, then each page and its content, and the cross-reference
// table.
func (w *writer) file() []byte {
	size := 2048 + len(w.img.zlib)
	for _, p := range w.pages {
		size += len(p.b) + 512
	}
	for i, u := range w.subsets() {
		if w.used[i] {
			size += len(u.objects)
		}
	}
	firstPage := firstFontObject + 5*len(scripts)
	objects := firstPage + 2*len(w.pages)
	offsets := make([]int, objects)
	b := make([]byte, 0, size)
	b = append(b, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"...)
	start := func(n int) {
		offsets[n] = len(b)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, " 0 obj\n"...)
	}
	const end = "\nendobj\n"

	start(objCatalog)
	b = append(b, "<< /Type /Catalog /Pages 2 0 R /Lang (sv-SE) >>"...)
	b = append(b, end...)
	start(objPages)
	b = append(b, "<< /Type /Pages /Count "...)
	b = strconv.AppendInt(b, int64(len(w.pages)), 10)
	b = append(b, " /Kids ["...)
	for i := range w.pages {
		b = strconv.AppendInt(b, int64(firstPage+2*i), 10)
		b = append(b, " 0 R "...)
	}
	b = append(b, "] >>"...)
	b = append(b, end...)
	start(objInfo)
	b = append(b, "<< /Title "...)
	b = appendTextString(b, "EU Digital COVID Certificate "+w.c.UVCI)
	b = append(b, " /Creator (sedcc) /Producer (sedcc) /CreationDate ("...)
	b = pdfDate(b, w.c.IssuedAt)
	b = append(b, ") /ModDate ("...)
	b = pdfDate(b, w.c.IssuedAt)
	b = append(b, ") >>"...)
	b = append(b, end...)
	for i, f := range standardFonts {
		start(objFonts + i)
		b = append(b, "<< /Type /Font /Subtype /Type1 /BaseFont /"...)
		b = append(b, f.base...)
		b = append(b, " /Encoding /WinAnsiEncoding >>"...)
		b = append(b, end...)
	}
	start(objQR)
	b = append(b, "<< /Type /XObject /Subtype /Image /Width "...)
	b = strconv.AppendInt(b, int64(w.img.width), 10)
	b = append(b, " /Height "...)
	b = strconv.AppendInt(b, int64(w.img.width), 10)
	b = append(b, " /ColorSpace /DeviceGray /BitsPerComponent 1 /Filter /FlateDecode /DecodeParms << /Predictor 15 /Colors 1 /BitsPerComponent 1 /Columns "...)
	b = strconv.AppendInt(b, int64(w.img.width), 10)
	b = append(b, " >> /Length "...)
	b = strconv.AppendInt(b, int64(len(w.img.zlib)), 10)
	b = append(b, " >>\nstream\n"...)
	b = append(b, w.img.zlib...)
	b = append(b, "\nendstream"...)
	b = append(b, end...)
	for i, u := range w.subsets() {
		if !w.used[i] {
			continue
		}
		for k, off := range u.offsets {
			offsets[u.object+k] = len(b) + off
		}
		b = append(b, u.objects...)
	}
	for i, p := range w.pages {
		start(firstPage + 2*i)
		b = append(b, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595.28 841.89] /Contents "...)
		b = strconv.AppendInt(b, int64(firstPage+2*i+1), 10)
		b = append(b, " 0 R /Resources << /ProcSet [/PDF /Text /ImageB] /XObject << /Q 7 0 R >> /Font << /F1 4 0 R /F2 5 0 R /F3 6 0 R"...)
		for k, u := range w.subsets() {
			if w.used[k] {
				b = append(b, " /"...)
				b = append(b, u.resource...)
				b = append(b, ' ')
				b = strconv.AppendInt(b, int64(u.object), 10)
				b = append(b, " 0 R"...)
			}
		}
		b = append(b, " >> >> >>"...)
		b = append(b, end...)
		start(firstPage + 2*i + 1)
		b = append(b, "<< /Length "...)
		b = strconv.AppendInt(b, int64(len(p.b)), 10)
		b = append(b, " >>\nstream\n"...)
		b = append(b, p.b...)
		b = append(b, "\nendstream"...)
		b = append(b, end...)
	}
	xref := len(b)
	b = append(b, "xref\n0 "...)
	b = strconv.AppendInt(b, int64(objects), 10)
	b = append(b, "\n0000000000 65535 f \n"...)
	for n := 1; n < objects; n++ {
		if offsets[n] <= 0 {
			b = append(b, "0000000000 65535 f \n"...)
			continue
		}
		b = fmt.Appendf(b, "%010d 00000 n \n", offsets[n])
	}
	b = append(b, "trailer\n<< /Size "...)
	b = strconv.AppendInt(b, int64(objects), 10)
	b = append(b, " /Root 1 0 R /Info 3 0 R >>\nstartxref\n"...)
	b = strconv.AppendInt(b, int64(xref), 10)
	b = append(b, "\n%%EOF\n"...)
	return b
}

func (w *writer) subsets() []*unicodeFont {
	if w.fonts == nil {
		return nil
	}
	return w.fonts.subsets
}
