package document

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"runtime"
	"syscall"
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

// benchCertificates are the certificates the document benchmarks render: a
// Swedish test (594-character HC1), the same with a Vietnamese name (one
// embedded font subset) and a vaccination with a Greek name.
func benchCertificates(b *testing.B) []struct {
	name string
	cert Certificate
} {
	test := certificateFromVector(b, "SE-2.json")
	viet := test
	viet.FamilyName, viet.GivenName = "Nguyễn", "Thị Hương"
	return []struct {
		name string
		cert Certificate
	}{
		{"test", test},
		{"test-vietnamese", viet},
		{"vaccination-greek", vaccinationCertificate(b)},
	}
}

func BenchmarkPDF(b *testing.B) {
	for _, bc := range benchCertificates(b) {
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

// BenchmarkRender is what an issuance costs in documents: the QR code PNG and
// the PDF around the same QR code. cpu-ns/op is the processor time of the
// benchmark's thread (see threadCPU).
func BenchmarkRender(b *testing.B) {
	for _, bc := range benchCertificates(b) {
		b.Run(bc.name, func(b *testing.B) {
			_, err := Render(bc.cert) // plans the QR layout and cuts the font subsets
			if err != nil {
				b.Fatal(err)
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			cpu0 := threadCPU(b)
			for b.Loop() {
				_, err := Render(bc.cert)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((threadCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkECDSAP256Sign is the reference the document figures are compared
// with, measured the same way.
func BenchmarkECDSAP256Sign(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("reference"))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	cpu0 := threadCPU(b)
	for b.Loop() {
		_, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((threadCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// threadCPU is the processor time the calling OS thread has used
// (getrusage RUSAGE_THREAD): unlike wall time, it does not grow while other
// processes on a shared machine hold the processor.
func threadCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRenderVsECDSA runs one bare ECDSA P-256 signature and one Render
// (QR, PNG and PDF) alternately in every iteration and reports each one's
// wall time and their ratio, so that load on a shared machine weighs on both
// alike, and the processor time of the benchmark's thread for all the
// iterations (cpu-ns/op, both together), which time-sharing does not inflate.
func BenchmarkRenderVsECDSA(b *testing.B) {
	c := certificateFromVector(b, "SE-2.json")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte(c.HC1))
	_, err = Render(c) // plans the QR layout and cuts the font subsets
	if err != nil {
		b.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var sig, doc time.Duration
	cpu0 := threadCPU(b)
	for b.Loop() {
		t0 := time.Now()
		_, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		_, err = Render(c)
		if err != nil {
			b.Fatal(err)
		}
		sig += t1.Sub(t0)
		doc += time.Since(t1)
	}
	b.ReportMetric(float64(sig.Nanoseconds())/float64(b.N), "ecdsa-ns/op")
	b.ReportMetric(float64(doc.Nanoseconds())/float64(b.N), "render-ns/op")
	b.ReportMetric(float64(doc)/float64(sig), "render/ecdsa")
	b.ReportMetric(float64((threadCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
