package document

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"
)

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

// BenchmarkQRVsECDSA runs one bare ECDSA P-256 signature and one QR code
// alternately in every iteration and reports each one's time and their ratio,
// so that load on a shared machine weighs on both alike.
func BenchmarkQRVsECDSA(b *testing.B) {
	hc1 := loadVector(b, "SE-2.json").Prefix
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte(hc1))
	var sig, doc time.Duration
	for b.Loop() {
		t0 := time.Now()
		_, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		_, _, _, err = QR(hc1, QROptions{})
		if err != nil {
			b.Fatal(err)
		}
		sig += t1.Sub(t0)
		doc += time.Since(t1)
	}
	b.ReportMetric(float64(sig.Nanoseconds())/float64(b.N), "ecdsa-ns/op")
	b.ReportMetric(float64(doc.Nanoseconds())/float64(b.N), "qr-ns/op")
	b.ReportMetric(float64(doc)/float64(sig), "qr/ecdsa")
}
