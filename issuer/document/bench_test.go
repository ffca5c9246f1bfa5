package document

import "testing"

func BenchmarkQR(b *testing.B) {
	for _, bc := range []struct {
		name string
		hc1  string
	}{
		{"468chars", loadVector(b, "SE-5.json").Prefix},
		{"594chars", loadVector(b, "SE-2.json").Prefix},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _, _, err := QR(bc.hc1, QROptions{})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPDF(b *testing.B) {
	for _, bc := range []struct {
		name string
		cert Certificate
	}{
		{"test", certificateFromVector(b, "SE-2.json")},
		{"vaccination", vaccinationCertificate(b)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				doc, err := PDF(bc.cert)
				if err != nil {
					b.Fatal(err)
				}
				size = len(doc)
			}
			b.ReportMetric(float64(size), "pdf-bytes")
		})
	}
}
