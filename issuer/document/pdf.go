package document

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/go-pdf/fpdf"
)

// Page geometry of the printed certificate, in millimetres (A4 portrait).
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
)

// Colours, as 0xRRGGBB.
const (
	black     = 0x000000
	white     = 0xffffff
	euBlue    = 0x003399
	labelGrey = 0x5a5a5a
	ruleGrey  = 0xc8c8c8
	bandGrey  = 0xebeef5
)

func rgb(c int) (r, g, b int) { return c >> 16 & 0xff, c >> 8 & 0xff, c & 0xff }

// PDF renders c as a printable one-page A4 certificate: a bilingual headline
// with the kind, the holder's names and date of birth, the QR code carrying
// the HC1 string (72 mm a side), the kind's rows, the certificate's issuer,
// identifier and dates, and a short notice. Labels are in Swedish and
// English.
//
// The PDF uses the standard Helvetica and Courier fonts, so nothing is
// embedded and text is encoded in Windows-1252, which prints Swedish and the
// other Western European names exactly. A native name that Windows-1252
// cannot encode (Cyrillic, Greek, and letters such as ł or ő) is not printed
// at all rather than printed wrongly: the standardised ICAO 9303 name, which
// is always printed and is what the holder's passport machine-readable zone
// shows, stands for it. Other values are folded to their unaccented letters
// where needed.
//
// The output depends only on c: the creation and modification dates are
// c.IssuedAt and the file carries no random document identifier, so the
// same certificate always renders to the same bytes.
func PDF(c Certificate) ([]byte, error) {
	qrPNG, _, _, err := QR(c.HC1, QROptions{})
	if err != nil {
		return nil, fmt.Errorf("pdf: %w", err)
	}
	return pdfWithQR(c, qrPNG)
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
	png, w, h, err := QR(c.HC1, QROptions{})
	if err != nil {
		return Rendered{}, err
	}
	pdf, err := pdfWithQR(c, png)
	if err != nil {
		return Rendered{}, err
	}
	return Rendered{QR: png, Width: w, Height: h, PDF: pdf}, nil
}

// pdfWithQR lays out the PDF around qrPNG, which must be QR(c.HC1, QROptions{}).
func pdfWithQR(c Certificate, qrPNG []byte) ([]byte, error) {
	kindSV, kindEN, ok := c.Kind.title()
	if !ok {
		return nil, fmt.Errorf("pdf: unknown certificate kind %q", c.Kind)
	}
	if c.IssuedAt.IsZero() {
		return nil, errors.New("pdf: issuance time is zero; it dates the document and keeps the output reproducible")
	}
	names, err := nameRows(c)
	if err != nil {
		return nil, fmt.Errorf("pdf: %w", err)
	}

	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreationDate(c.IssuedAt)
	pdf.SetModificationDate(c.IssuedAt)
	pdf.SetCatalogSort(true)
	pdf.SetTitle("EU Digital COVID Certificate "+c.UVCI, true)
	pdf.SetCreator("sedcc", true)
	pdf.SetLang("sv-SE")
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(false, margin)
	pdf.AddPage()

	d := drawer{pdf: pdf}
	d.headline(kindSV, kindEN)

	// Holder, beside the QR code.
	pdf.RegisterImageOptionsReader("qr", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(qrPNG))
	top := bandH + 18
	pdf.ImageOptions("qr", qrX, top, qrSide, qrSide, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	d.smallCentered(qrX, top+qrSide+1.5, qrSide, "Skanna för att verifiera / Scan to verify")

	y := top
	for _, r := range names {
		y = d.stacked(margin, y, personW, r, true)
	}
	y = d.stacked(margin, y, personW, Field{"Födelsedatum", "Date of birth", c.BirthDate}, false)
	y = d.stacked(margin, y, personW, Field{"Intygets identitet", "Unique certificate identifier", c.UVCI}, false)

	y = max(y, top+qrSide+8) + 4
	detailsSV, detailsEN := c.Kind.details()
	y = d.section(y, detailsSV, detailsEN)
	for _, f := range c.Fields {
		y = d.row(y, f)
	}

	y += 4
	y = d.section(y, "Om intyget", "About the certificate")
	y = d.pair(y,
		Field{"Utfärdare", "Certificate issuer", c.Issuer},
		Field{"Utfärdande land", "Member State of issuance", c.Country})
	d.pair(y,
		Field{"Utfärdat", "Issued", formatTime(c.IssuedAt, dateLayout)},
		Field{"Giltigt till och med", "Valid until", formatTime(c.ValidUntil, dateLayout)})
	d.footer()

	if err := pdf.Error(); err != nil {
		return nil, fmt.Errorf("pdf: render certificate %s: %w", c.UVCI, err)
	}
	var buf bytes.Buffer
	err = pdf.Output(&buf)
	if err != nil {
		return nil, fmt.Errorf("pdf: write certificate %s: %w", c.UVCI, err)
	}
	return buf.Bytes(), nil
}

// nameRows returns the name rows to print: the native name when it can be
// printed exactly, and the standardised name when it is given.
func nameRows(c Certificate) ([]Field, error) {
	var rows []Field
	native := joinName(c.FamilyName, c.GivenName)
	if _, exact := cp1252(native); exact && native != "" {
		rows = append(rows, Field{"Efternamn, förnamn", "Surname(s), forename(s)", native})
	}
	std := joinName(c.FamilyNameStd, c.GivenNameStd)
	if std != "" {
		if _, exact := cp1252(std); !exact {
			return nil, errors.New("standardised name holds characters outside A to Z and '<'")
		}
		rows = append(rows, Field{"Standardiserat namn", "Standardised name (ICAO 9303)", std})
	}
	if len(rows) == 0 {
		return nil, errors.New("no printable name: the native name is empty or outside Windows-1252 and no standardised name is given")
	}
	return rows, nil
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

// drawer lays out one certificate on an fpdf document; it keeps no state
// beyond the document itself.
type drawer struct {
	pdf *fpdf.Fpdf
}

func (d drawer) text(s string) string { return cp1252Folded(s) }

func (d drawer) colour(c int) { d.pdf.SetTextColor(rgb(c)) }

// lines draws s wrapped to width w, one line every lineH millimetres from y,
// in the current font and colour, and returns the y below the last line.
func (d drawer) lines(x, y, w, lineH float64, s, align string) float64 {
	p := d.pdf
	for _, line := range p.SplitLines([]byte(d.text(s)), w) {
		p.SetXY(x, y)
		p.CellFormat(w, lineH, string(line), "", 0, align, false, 0, "")
		y += lineH
	}
	return y
}

// headline draws the blue band with the bilingual title and the kind below it.
func (d drawer) headline(kindSV, kindEN string) {
	p := d.pdf
	p.SetFillColor(rgb(euBlue))
	p.Rect(0, 0, pageW, bandH, "F")
	d.colour(white)
	p.SetFont("Helvetica", "B", 20)
	d.lines(margin, 7, contentW, 9, "EU DIGITALT COVID-INTYG", "L")
	p.SetFont("Helvetica", "", 13)
	d.lines(margin, 16, contentW, 7, "EU DIGITAL COVID CERTIFICATE", "L")

	d.colour(euBlue)
	p.SetFont("Helvetica", "B", 16)
	d.lines(margin, bandH+5, contentW, 8, kindSV+" / "+kindEN, "L")
}

// stacked draws a label line above its value in a column of width w and
// returns the y below it.
func (d drawer) stacked(x, y, w float64, f Field, emphasise bool) float64 {
	p := d.pdf
	p.SetFont("Helvetica", "", 8)
	d.colour(labelGrey)
	y = d.lines(x, y, w, 4, f.LabelSV+" / "+f.LabelEN, "L")
	style, size := "", 11.0
	if emphasise {
		style, size = "B", 13
	}
	p.SetFont("Helvetica", style, size)
	d.colour(black)
	y = d.lines(x, y, w, size*0.45, f.Value, "L")
	return y + 3
}

// section draws a shaded heading across the page and returns the y below it.
// It keeps room for at least one row below the heading.
func (d drawer) section(y float64, sv, en string) float64 {
	p := d.pdf
	y = d.room(y, 8+12)
	p.SetFillColor(rgb(bandGrey))
	p.Rect(margin, y, contentW, 7, "F")
	p.SetFont("Helvetica", "B", 10)
	d.colour(euBlue)
	d.lines(margin+2, y, contentW-4, 7, sv+" / "+en, "L")
	return y + 8
}

// row draws one label/value row of the detail table and returns the y below it.
func (d drawer) row(y float64, f Field) float64 {
	p := d.pdf
	p.SetFont("Helvetica", "B", 9)
	sv := p.SplitLines([]byte(d.text(f.LabelSV)), labelW)
	p.SetFont("Helvetica", "I", 8)
	en := p.SplitLines([]byte(d.text(f.LabelEN)), labelW)
	p.SetFont("Helvetica", "", 11)
	val := p.SplitLines([]byte(d.text(f.Value)), valueW)
	const labelLineH, valueLineH = 3.7, 5.0
	h := max(float64(len(sv)+len(en))*labelLineH, float64(len(val))*valueLineH) + 2
	y = d.room(y, h)

	p.SetFont("Helvetica", "B", 9)
	d.colour(black)
	yy := d.lines(margin, y+1, labelW, labelLineH, f.LabelSV, "L")
	p.SetFont("Helvetica", "I", 8)
	d.colour(labelGrey)
	d.lines(margin, yy, labelW, labelLineH, f.LabelEN, "L")
	p.SetFont("Helvetica", "", 11)
	d.colour(black)
	d.lines(margin+labelW, y+1, valueW, valueLineH, f.Value, "L")
	p.SetDrawColor(rgb(ruleGrey))
	p.SetLineWidth(0.2)
	p.Line(margin, y+h, margin+contentW, y+h)
	return y + h
}

// pair draws two fields side by side, each label above its value, leaving
// out an empty one, and returns the y below them.
func (d drawer) pair(y float64, a, b Field) float64 {
	const half = contentW / 2
	var fields []Field
	for _, f := range []Field{a, b} {
		if f.Value != "" {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 {
		return y
	}
	y = d.room(y, 13)
	bottom := y
	for i, f := range fields {
		bottom = max(bottom, d.stacked(margin+float64(i)*half, y+1, half-4, f, false)-2)
	}
	p := d.pdf
	p.SetDrawColor(rgb(ruleGrey))
	p.SetLineWidth(0.2)
	p.Line(margin, bottom, margin+contentW, bottom)
	return bottom
}

// room starts a new page when a block of height h does not fit above the
// footer, and returns the y to draw the block at.
func (d drawer) room(y, h float64) float64 {
	if y+h <= bottomLimit {
		return y
	}
	d.footer()
	d.pdf.AddPage()
	return margin
}

// smallCentered draws one small grey line centred in a box of width w.
func (d drawer) smallCentered(x, y, w float64, s string) {
	p := d.pdf
	p.SetFont("Helvetica", "", 8)
	d.colour(labelGrey)
	d.lines(x, y, w, 4, s, "C")
}

// footer draws the notice at the bottom of the current page.
func (d drawer) footer() {
	p := d.pdf
	y := pageH - margin - footerH + 4
	p.SetDrawColor(rgb(euBlue))
	p.SetLineWidth(0.4)
	p.Line(margin, y, margin+contentW, y)
	p.SetFont("Helvetica", "", 8)
	d.colour(labelGrey)
	y = d.lines(margin, y+2, contentW, 3.8,
		"Detta intyg är inte en resehandling. Uppgifterna i QR-koden är signerade och är de som gäller; "+
			"kontrollera dem med en app för verifiering av EU:s digitala covidintyg.", "L")
	d.lines(margin, y+1, contentW, 3.8,
		"This certificate is not a travel document. The data in the QR code are signed and prevail; "+
			"check them with an EU Digital COVID Certificate verifier app.", "L")
}
