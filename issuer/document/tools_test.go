package document

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tool returns the path of a Debian tool the document tests need; .ci/deps.sh
// installs them (qpdf, poppler-utils, zbar-tools).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (make deps installs it): %v", name, err)
	}
	return p
}

// unicodeNames are certificates whose native names lie outside Windows-1252,
// each in a different subset of the embedded font.
func unicodeNames(t *testing.T) map[string]Certificate {
	t.Helper()
	base := certificateFromVector(t, "SE-2.json")
	names := map[string][4]string{
		"Czech and Polish": {"Dvořák-Wałęsa", "Zdeněk Łukasz", "DVORAK<WALESA", "ZDENEK<LUKASZ"},
		"Vietnamese":       {"Nguyễn", "Thị Hương", "NGUYEN", "THI<HUONG"},
		"Greek":            {"Παπαδοπούλου", "Ελένη", "PAPADOPOULOU", "ELENI"},
		"Cyrillic":         {"Шевченко", "Ґанна", "SHEVCHENKO", "HANNA"},
	}
	out := map[string]Certificate{}
	for k, n := range names {
		c := base
		c.FamilyName, c.GivenName, c.FamilyNameStd, c.GivenNameStd = n[0], n[1], n[2], n[3]
		out[k] = c
	}
	return out
}

// TestPDFPassesQpdfAndPdftotext checks every kind of PDF with qpdf --check and
// finds the UVCI and the native and standardised names in pdftotext's text.
func TestPDFPassesQpdfAndPdftotext(t *testing.T) {
	qpdf, pdftotext := tool(t, "qpdf"), tool(t, "pdftotext")
	certs := unicodeNames(t)
	certs["test"] = certificateFromVector(t, "SE-2.json")
	certs["recovery"] = certificateFromVector(t, "SE-5.json")
	certs["vaccination"] = vaccinationCertificate(t)
	sandbox := certificateFromVector(t, "SE-2.json")
	sandbox.Sandbox = true
	certs["sandbox"] = sandbox
	long := certificateFromVector(t, "SE-2.json")
	for i := range 25 {
		long.Fields = append(long.Fields, Field{LabelSV: "Extra rad", LabelEN: "Extra row", Value: strings.Repeat("värde ", i+1)})
	}
	certs["two pages"] = long
	longID := certificateFromVector(t, "SE-2.json")
	longID.UVCI = "URN:UVCI:01:SE:DCC/YQ7SFIF6IDBFKLQF/32UQP7VIJ7FKCCXTEQSAQZQDVV2LCDPU#W"
	certs["a UVCI of 70 characters"] = longID
	dir := t.TempDir()
	for name, c := range certs {
		t.Run(name, func(t *testing.T) {
			doc, err := PDF(c)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".pdf")
			err = os.WriteFile(file, doc, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(qpdf, "--check", file).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "No syntax or stream encoding errors found") {
				t.Fatalf("qpdf --check: %v\n%s", err, out)
			}
			if strings.Contains(string(out), "WARNING") {
				t.Errorf("qpdf --check warns:\n%s", out)
			}
			text, err := exec.Command(pdftotext, "-enc", "UTF-8", file, "-").Output()
			if err != nil {
				t.Fatalf("pdftotext: %v", err)
			}
			flat := strings.Join(strings.Fields(string(text)), " ")
			for _, want := range []string{c.UVCI, joinName(c.FamilyName, c.GivenName), joinName(c.FamilyNameStd, c.GivenNameStd)} {
				if !strings.Contains(flat, want) {
					t.Errorf("pdftotext finds no %q in:\n%s", want, flat)
				}
			}
			if got := strings.Contains(flat, sandboxMark); got != c.Sandbox {
				t.Errorf("sandbox mark printed: %v, sandbox certificate: %v", got, c.Sandbox)
			}
		})
	}
}

// TestPDFPageQRDecodes renders the page as a citizen's printer would
// (pdftoppm, 150 dpi) and reads the QR code off it with zbar.
func TestPDFPageQRDecodes(t *testing.T) {
	pdftoppm, zbarimg := tool(t, "pdftoppm"), tool(t, "zbarimg")
	for _, c := range []Certificate{certificateFromVector(t, "SE-2.json"), vaccinationCertificate(t)} {
		doc, err := PDF(c)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		file := filepath.Join(dir, "c.pdf")
		err = os.WriteFile(file, doc, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(pdftoppm, "-r", "150", "-png", "-singlefile", file, filepath.Join(dir, "page")).CombinedOutput()
		if err != nil {
			t.Fatalf("pdftoppm: %v\n%s", err, out)
		}
		got, err := exec.Command(zbarimg, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", filepath.Join(dir, "page.png")).Output()
		if err != nil {
			t.Fatalf("zbarimg on the rendered page: %v", err)
		}
		if strings.TrimSuffix(string(got), "\n") != c.HC1 {
			t.Fatalf("the page's QR code reads\n%q\nwant\n%q", got, c.HC1)
		}
	}
}

func TestPDFSaysWhatACitizenNeeds(t *testing.T) {
	t.Run("NAAT manufacturer does not repeat the test name", func(t *testing.T) {
		fields := TestFields(TestDetails{TestName: "Roche LightCycler qPCR", Manufacturer: "Roche LightCycler qPCR"})
		for _, f := range fields {
			if f.LabelEN == "Test manufacturer" {
				t.Errorf("manufacturer row %q repeats the test name", f.Value)
			}
		}
	})
	t.Run("creation date and issuance carry their zone", func(t *testing.T) {
		c := certificateFromVector(t, "SE-2.json")
		c.IssuedAt = time.Date(2021, 6, 15, 14, 24, 0, 0, time.FixedZone("CEST", 2*3600))
		doc, err := PDF(c)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), "/CreationDate (D:20210615142400+02'00')") {
			t.Error("creation date lacks its zone")
		}
		text, _ := pdfText(t, doc)
		if !strings.Contains(text, "Utfärdat / Issued 2021-06-15 14:24 +02:00") {
			t.Errorf("issuance time printed without its zone: %s", text)
		}
	})
	t.Run("a test shows no technical expiry", func(t *testing.T) {
		c := certificateFromVector(t, "SE-2.json")
		doc, err := PDF(c)
		if err != nil {
			t.Fatal(err)
		}
		text, _ := pdfText(t, doc)
		if strings.Contains(text, "Valid until") || strings.Contains(text, c.ValidUntil.Format(dateLayout)) {
			t.Errorf("test certificate prints the expiry: %s", text)
		}
	})
}
