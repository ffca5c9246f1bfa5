package document

import (
	"bytes"
	"image/png"
	"strings"
	"testing"

	"github.com/ledongthuc/pdf"
)

// FuzzRender: any content and any names either render, with a PNG image/png
// decodes to the reported size and a PDF a PDF reader opens, or fail with an
// error; never a panic.
func FuzzRender(f *testing.F) {
	f.Add("HC1:6BF+70790T9WJWG.FKY*4GO0.O1CV2 O5 N2FBBRW1*70HS8WY04AC*WIFN0AHCD8KD97TK0F90KECTHGWJC0FDC:5AIA%G7X+AQB9746HS80:54IBQF60R6$A80X6S1BTYACG6M+9XG8KIAWNA91AY%67092L4WJCT3EHS8XJC$+DXJCCWENF6OF63W5NW6WF6%JC QE/IAYJC5LEW34U3ET7DXC9 QE-ED8%E.JCBECB1A-:8$96646AL60A60S6Q$D.UDRYA 96NF6L/5QW6307KQEPD09WEQDD+Q6TW6FA7C466KCN9E%961A6DL6FA7D46JPCT3E5JDLA7$Q6E464W5TG6..DX%DZJC6/DTZ9 QE5$CB$DA/D JC1/D3Z8WED1ECW.CCWE.Y92OAGY8MY9L+9MPCG/D5 C5IA5N9$PC5$CWKEEDDA.EYJC/PCRWEIECY1C%DEOPCUGB:/45QT", "Lövström", "Oscar", false)
	f.Add("HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH", "Nguyễn", "Thị Hương", true)
	f.Add("hello world", "Παπαδοπούλου", "", false)
	f.Add("", "", "", false)
	f.Fuzz(func(t *testing.T, content, family, given string, sandbox bool) {
		if len(content) > 1200 {
			content = content[:1200]
		}
		c := certificateFromVector(t, "SE-2.json")
		c.HC1, c.FamilyName, c.GivenName, c.Sandbox = content, family, given, sandbox
		r, err := Render(c)
		if err != nil {
			return
		}
		img, err := png.Decode(bytes.NewReader(r.QR))
		if err != nil {
			t.Fatalf("PNG does not decode: %v", err)
		}
		if b := img.Bounds(); b.Dx() != r.Width || b.Dy() != r.Height {
			t.Fatalf("PNG is %v, reported %dx%d", b, r.Width, r.Height)
		}
		doc, err := pdf.NewReader(bytes.NewReader(r.PDF), int64(len(r.PDF)))
		if err != nil {
			t.Fatalf("PDF does not open: %v", err)
		}
		if doc.NumPage() < 1 {
			t.Fatal("PDF has no page")
		}
		if !strings.HasSuffix(string(r.PDF), "%%EOF\n") {
			t.Fatal("PDF does not end with the end-of-file marker")
		}
	})
}
