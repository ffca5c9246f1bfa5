package document

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ledongthuc/pdf"
)

// payload is the part of an EU DCC payload the printed certificate shows.
type payload struct {
	Nam struct {
		FN, FNT, GN, GNT string
	} `json:"nam"`
	DOB string `json:"dob"`
	T   []struct {
		TG, TT, NM, MA, SC, TR, TC, CO, IS, CI string
	} `json:"t"`
	R []struct {
		TG, FR, CO, IS, DF, DU, CI string
	} `json:"r"`
}

// display returns the display text of a value-set code the Swedish vectors use.
func display(t testing.TB, code string) string {
	t.Helper()
	switch code {
	case "840539006":
		return "COVID-19"
	case "LP6464-4":
		return "Nucleic acid amplification with probe detection"
	case "260415000":
		return "Not detected"
	case "SE":
		return "Sverige / Sweden (SE)"
	}
	t.Fatalf("no display text for code %q", code)
	return ""
}

func mustTime(t testing.TB, layout, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(layout, s)
	if err != nil {
		t.Fatalf("parse time %q: %v", s, err)
	}
	return tm
}

// certificateFromVector builds the display values of a Swedish test vector.
func certificateFromVector(t testing.TB, name string) Certificate {
	t.Helper()
	v := loadVector(t, name)
	var p payload
	err := json.Unmarshal(v.JSON, &p)
	if err != nil {
		t.Fatalf("parse payload of %s: %v", name, err)
	}
	c := Certificate{
		HC1:           v.Prefix,
		FamilyName:    p.Nam.FN,
		GivenName:     p.Nam.GN,
		FamilyNameStd: p.Nam.FNT,
		GivenNameStd:  p.Nam.GNT,
		BirthDate:     p.DOB,
		Country:       display(t, "SE"),
	}
	switch {
	case len(p.T) == 1:
		e := p.T[0]
		sc := mustTime(t, time.RFC3339, e.SC)
		c.Kind, c.UVCI, c.Issuer = KindTest, e.CI, e.IS
		c.IssuedAt = sc.Add(3 * time.Hour)
		c.ValidUntil = sc.Add(72 * time.Hour)
		c.Fields = TestFields(TestDetails{
			Disease:    display(t, e.TG),
			TestType:   display(t, e.TT),
			TestName:   e.NM,
			SampleTime: sc,
			Result:     display(t, e.TR),
			Facility:   e.TC,
			Country:    display(t, e.CO),
		})
	case len(p.R) == 1:
		e := p.R[0]
		c.Kind, c.UVCI, c.Issuer = KindRecovery, e.CI, e.IS
		c.IssuedAt = mustTime(t, time.DateOnly, e.DF).Add(10 * time.Hour)
		c.ValidUntil = mustTime(t, time.DateOnly, e.DU)
		c.Fields = RecoveryFields(RecoveryDetails{
			Disease:       display(t, e.TG),
			FirstPositive: mustTime(t, time.DateOnly, e.FR),
			ValidFrom:     mustTime(t, time.DateOnly, e.DF),
			ValidUntil:    mustTime(t, time.DateOnly, e.DU),
			Country:       display(t, e.CO),
		})
	default:
		t.Fatalf("%s holds no single test or recovery entry", name)
	}
	return c
}

// vaccinationCertificate has a Greek native name, which the standard fonts
// cannot print, and a Swedish facility-free vaccination entry.
func vaccinationCertificate(t testing.TB) Certificate {
	t.Helper()
	issued := time.Date(2021, 6, 20, 8, 30, 0, 0, time.UTC)
	return Certificate{
		Kind:          KindVaccination,
		HC1:           loadVector(t, "SE-5.json").Prefix,
		UVCI:          "URN:UVCI:01:SE:EHM/V100000024GI5HM",
		FamilyName:    "Παπαδοπούλου",
		GivenName:     "Ελένη",
		FamilyNameStd: "PAPADOPOULOU",
		GivenNameStd:  "ELENI",
		BirthDate:     "1975-03",
		IssuedAt:      issued,
		ValidUntil:    issued.AddDate(1, 0, 0),
		Issuer:        "Swedish eHealth Agency",
		Country:       "Sverige / Sweden (SE)",
		Fields: VaccinationFields(VaccinationDetails{
			Disease:      "COVID-19",
			VaccineType:  "SARS-CoV-2 mRNA vaccine",
			Product:      "Spikevax",
			Manufacturer: "Moderna Biotech Spain S.L.",
			Dose:         2,
			Doses:        2,
			Date:         time.Date(2021, 6, 18, 0, 0, 0, 0, time.UTC),
			Country:      "Sverige / Sweden (SE)",
		}),
	}
}

// pdfText returns the text of every page of doc, with runs of white space
// collapsed to one space, and the number of pages.
func pdfText(t *testing.T, doc []byte) (string, int) {
	t.Helper()
	r, err := pdf.NewReader(bytes.NewReader(doc), int64(len(doc)))
	if err != nil {
		t.Fatalf("parse pdf: %v", err)
	}
	var all []string
	for i := 1; i <= r.NumPage(); i++ {
		var b strings.Builder
		for _, row := range mustRows(t, r.Page(i)) {
			b.WriteString(row)
			b.WriteByte('\n')
		}
		all = append(all, b.String())
	}
	return strings.Join(strings.Fields(strings.Join(all, " ")), " "), r.NumPage()
}

// mustRows returns the text of a page line by line (top to bottom), each
// line's pieces joined left to right with a space.
func mustRows(t *testing.T, p pdf.Page) []string {
	t.Helper()
	rows, err := p.GetTextByRow()
	if err != nil {
		t.Fatalf("extract text: %v", err)
	}
	var out []string
	for _, row := range rows {
		var parts []string
		for _, w := range row.Content {
			parts = append(parts, w.S)
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

func TestPDFShowsTheCertificate(t *testing.T) {
	cases := []struct {
		name    string
		cert    Certificate
		want    []string
		wantNot []string
	}{
		{
			name: "test certificate, Swedish vector",
			cert: certificateFromVector(t, "SE-2.json"),
			want: []string{
				"EU DIGITALT COVID-INTYG", "EU DIGITAL COVID CERTIFICATE", "Testintyg / Test certificate",
				"Efternamn, förnamn / Surname(s), forename(s)", "Lövström, Oscar",
				"Standardiserat namn / Standardised name (ICAO 9303)", "LOEVSTROEM, OSCAR",
				"Födelsedatum / Date of birth", "1958-11-11",
				"2021-06-15 09:24 Z", "Roche LightCycler qPCR", "Not detected", "Arlanda Airport Covid Center 1",
				"Utfärdare", "Swedish eHealth Agency", "Utfärdat", "2021-06-15 12:24 Z",
				// A test shows the sample time, not the technical expiry, beside the issuance.
				"Validity counts from sample collection 2021-06-15 09:24 Z",
				"Detta intyg är inte en resehandling.", "This certificate is not a travel document.",
			},
		},
		{
			name: "recovery certificate, Swedish vector",
			cert: certificateFromVector(t, "SE-5.json"),
			want: []string{
				"Intyg om tillfrisknande / Certificate of recovery", "Lövström, Oscar", "LOEVSTROEM, OSCAR",
				"Uppgifter om tillfrisknande / Recovery details",
				"Datum för första positiva testresultat", "2021-06-04", "2021-06-15", "2021-09-13",
				"URN:UVCI:01:SE:EHM/R987765321",
			},
			wantNot: []string{"Testintyg", "SANDBOX"},
		},
		{
			name: "vaccination certificate, name outside Windows-1252",
			cert: vaccinationCertificate(t),
			want: []string{
				"Vaccinationsintyg / Vaccination certificate", "Παπαδοπούλου, Ελένη", "PAPADOPOULOU, ELENI", "1975-03",
				"Spikevax", "Moderna Biotech Spain S.L.", "2 / 2", "2021-06-18", "2022-06-20",
				"URN:UVCI:01:SE:EHM/V100000024GI5HM",
			},
			// The native name is printed in its own script, never as dots or question marks.
			wantNot: []string{"??", ".."},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := PDF(tc.cert)
			if err != nil {
				t.Fatalf("PDF: %v", err)
			}
			text, pages := pdfText(t, doc)
			if pages != 1 {
				t.Errorf("%d pages, want 1", pages)
			}
			want := append([]string{tc.cert.UVCI}, tc.want...)
			for _, f := range tc.cert.Fields {
				want = append(want, f.LabelSV, f.LabelEN, f.Value)
			}
			for _, w := range want {
				if !strings.Contains(text, w) {
					t.Errorf("text lacks %q", w)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(text, w) {
					t.Errorf("text holds %q", w)
				}
			}
			if t.Failed() {
				t.Logf("extracted text: %s", text)
			}
		})
	}
}

func TestPDFEmbedsTheQRCode(t *testing.T) {
	c := certificateFromVector(t, "SE-2.json")
	doc, err := PDF(c)
	if err != nil {
		t.Fatal(err)
	}
	_, w, h, err := QR(c.HC1, QROptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := pdf.NewReader(bytes.NewReader(doc), int64(len(doc)))
	if err != nil {
		t.Fatalf("parse pdf: %v", err)
	}
	xobjects := r.Page(1).Resources().Key("XObject")
	keys := xobjects.Keys()
	if len(keys) != 1 {
		t.Fatalf("page 1 has %d images, want the QR code alone", len(keys))
	}
	img := xobjects.Key(keys[0])
	if img.Key("Subtype").Name() != "Image" {
		t.Fatalf("XObject %s is a %s, want an Image", keys[0], img.Key("Subtype").Name())
	}
	if gw, gh := img.Key("Width").Int64(), img.Key("Height").Int64(); gw != int64(w) || gh != int64(h) {
		t.Errorf("image is %dx%d pixels, the QR code of the HC1 string is %dx%d", gw, gh, w, h)
	}
}

func TestPDFIsReproducible(t *testing.T) {
	c := certificateFromVector(t, "SE-2.json")
	a, err := PDF(c)
	if err != nil {
		t.Fatal(err)
	}
	b, err := PDF(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two renderings of the same certificate differ")
	}
	stamp := c.IssuedAt.Format("20060102150405")
	if !bytes.Contains(a, []byte("/CreationDate (D:"+stamp)) {
		t.Errorf("creation date is not the issuance time %s", stamp)
	}

	later := c
	later.IssuedAt = c.IssuedAt.Add(time.Minute)
	d, err := PDF(later)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, d) {
		t.Error("a different issuance time gives the same bytes")
	}
}

func TestPDFBreaksLongContentOntoAnotherPage(t *testing.T) {
	c := certificateFromVector(t, "SE-2.json")
	for i := range 25 {
		c.Fields = append(c.Fields, Field{
			LabelSV: fmt.Sprintf("Extra rad %d", i),
			LabelEN: fmt.Sprintf("Extra row %d", i),
			Value:   fmt.Sprintf("värde %d", i),
		})
	}
	doc, err := PDF(c)
	if err != nil {
		t.Fatalf("PDF: %v", err)
	}
	text, pages := pdfText(t, doc)
	if pages < 2 {
		t.Errorf("%d page(s) for %d rows, want the rows continued on a second page", pages, len(c.Fields))
	}
	for _, f := range c.Fields {
		if !strings.Contains(text, f.Value) {
			t.Errorf("text lacks %q", f.Value)
		}
	}
	if got := strings.Count(text, "This certificate is not a travel document."); got != pages {
		t.Errorf("notice printed %d times on %d pages", got, pages)
	}
}

func TestPDFRejects(t *testing.T) {
	valid := certificateFromVector(t, "SE-2.json")
	cases := []struct {
		name   string
		change func(*Certificate)
		want   string
	}{
		{"unknown kind", func(c *Certificate) { c.Kind = "passport" }, `kind "passport"`},
		{"zero issuance time", func(c *Certificate) { c.IssuedAt = time.Time{} }, "issuance time"},
		{"empty HC1", func(c *Certificate) { c.HC1 = "" }, "empty content"},
		{"no name at all", func(c *Certificate) {
			c.FamilyName, c.GivenName, c.FamilyNameStd, c.GivenNameStd = "", "", "", ""
		}, "no printable name"},
		{"unprintable native name and no standardised name", func(c *Certificate) {
			c.FamilyName, c.GivenName, c.FamilyNameStd, c.GivenNameStd = "ბერიძე", "ნინო", "", ""
		}, "no printable name"},
		{"standardised name outside A to Z", func(c *Certificate) { c.FamilyNameStd = "ИВАНОВА" }, "standardised name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.change(&c)
			doc, err := PDF(c)
			if err == nil {
				t.Fatalf("PDF succeeded with %d bytes, want an error", len(doc))
			}
			if doc != nil {
				t.Errorf("PDF returned %d bytes with its error", len(doc))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestKindFieldsLeaveOutEmptyValues(t *testing.T) {
	rat := TestFields(TestDetails{
		Disease:      "COVID-19",
		TestType:     "Rapid immunoassay",
		Manufacturer: "Abbott Rapid Diagnostics, Panbio COVID-19 Ag Rapid Test",
		SampleTime:   time.Date(2021, 6, 15, 11, 24, 0, 0, time.FixedZone("CEST", 2*3600)),
		Result:       "Not detected",
		Country:      "Sverige / Sweden (SE)",
	})
	labels := map[string]string{}
	for _, f := range rat {
		labels[f.LabelEN] = f.Value
	}
	if _, ok := labels["Test name"]; ok {
		t.Error("a rapid antigen test without a test name still has a Test name row")
	}
	if _, ok := labels["Testing centre or facility"]; ok {
		t.Error("an empty facility still has a row")
	}
	if got, want := labels["Date and time of sample collection"], "2021-06-15 11:24 +02:00"; got != want {
		t.Errorf("sample time printed as %q, want %q", got, want)
	}
	if got := len(rat); got != 6 {
		t.Errorf("%d rows, want 6", got)
	}

	vac := VaccinationFields(VaccinationDetails{Disease: "COVID-19", Dose: 3})
	for _, f := range vac {
		if f.LabelEN == "Dose number / total number of doses" {
			t.Errorf("dose printed as %q without a total", f.Value)
		}
	}
}

func TestCP1252Folded(t *testing.T) {
	cases := []struct{ in, want string }{
		{"Åre vårdcentral, Östersund", "Åre vårdcentral, Östersund"},
		{"Łódź Testcentrum", "?ódz Testcentrum"},
		{"Gdańsk – Hőgyes", "Gdansk – Hogyes"},
		{"Иванова", "???????"},
	}
	for _, tc := range cases {
		want, exact := cp1252(tc.want)
		if !exact {
			t.Fatalf("expected value %q is itself outside Windows-1252", tc.want)
		}
		if got := cp1252Folded(tc.in); got != want {
			t.Errorf("cp1252Folded(%q) = %q, want %q", tc.in, got, want)
		}
	}
}

// TestRenderMatchesQRAndPDF: Render gives exactly what QR and PDF give separately.
func TestRenderMatchesQRAndPDF(t *testing.T) {
	c := certificateFromVector(t, "SE-2.json")
	r, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	png, w, h, err := QR(c.HC1, QROptions{})
	if err != nil {
		t.Fatal(err)
	}
	pdf, err := PDF(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.QR, png) || r.Width != w || r.Height != h || !bytes.Equal(r.PDF, pdf) {
		t.Fatal("Render differs from QR and PDF")
	}
}
