package hcert

import (
	"compress/zlib"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/sedcc/dcc/signing/base45"
)

// The pipeline and its stages, and bare ECDSA P-256 for comparison (docs/perf.md):
//
//	go test ./signing/hcert/ -run '^$' -bench . -benchmem

func benchClaims() Claims {
	return Claims{Issuer: "SE", IssuedAt: issued, Expiry: expires, Payload: testPayload()}
}

// BenchmarkECDSAP256Sign is the floor: one ECDSA P-256 signature over a SHA-256 digest.
func BenchmarkECDSAP256Sign(b *testing.B) {
	f := newFixture(b)
	key := f.key.(*ecdsa.PrivateKey)
	digest := sha256.Sum256([]byte("Signature1 structure of a typical DCC"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ecdsa.SignASN1(rand.Reader, key, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipeline: payload to HC1 string (validation, CBOR, COSE, zlib, Base45).
func BenchmarkPipeline(b *testing.B) {
	f := newFixture(b)
	c := benchClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.signer.Sign(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPipelineParallel(b *testing.B) {
	f := newFixture(b)
	c := benchClaims()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.signer.Sign(c); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkStageCBOR(b *testing.B) {
	f := newFixture(b)
	c := benchClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.signer.EncodeClaims(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStageSign(b *testing.B) {
	f := newFixture(b)
	cwt, err := f.signer.EncodeClaims(benchClaims())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.signer.SignCWT(cwt); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCOSE(b *testing.B, f fixture) []byte {
	cwt, err := f.signer.EncodeClaims(benchClaims())
	if err != nil {
		b.Fatal(err)
	}
	msg, err := f.signer.SignCWT(cwt)
	if err != nil {
		b.Fatal(err)
	}
	return msg
}

func BenchmarkStageZlib(b *testing.B) {
	f := newFixture(b)
	msg := benchCOSE(b, f)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.signer.Compress(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStageZlibBestCompression shows why the signer stores rather than deflates by
// default: a BestCompression signer (pooled writer), and the bytes it saves per certificate.
func BenchmarkStageZlibBestCompression(b *testing.B) {
	f := newFixture(b)
	msg := benchCOSE(b, f)
	fast, err := f.signer.Compress(msg)
	if err != nil {
		b.Fatal(err)
	}
	best, err := NewSigner(f.key, f.cert, WithCompressionLevel(zlib.BestCompression))
	if err != nil {
		b.Fatal(err)
	}
	var size int
	b.ReportAllocs()
	for b.Loop() {
		out, err := best.Compress(msg)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(len(fast)-size), "bytes-saved")
}

func BenchmarkStageBase45(b *testing.B) {
	f := newFixture(b)
	z, err := f.signer.Compress(benchCOSE(b, f))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(z)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Prefix + base45.Encode(z)
	}
}

func BenchmarkDecode(b *testing.B) {
	f := newFixture(b)
	hc1 := f.sign(b, testPayload())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(hc1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	hc1 := f.sign(b, testPayload())
	trust := trustOf(f.cert)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(hc1, trust, issued); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipelineVsECDSA interleaves one bare ECDSA P-256 signature and one full pipeline
// run per iteration and reports their ratio, so that load on a shared machine hits both alike.
func BenchmarkPipelineVsECDSA(b *testing.B) {
	f := newFixture(b)
	key := f.key.(*ecdsa.PrivateKey)
	digest := sha256.Sum256([]byte("Signature1 structure of a typical DCC"))
	c := benchClaims()
	var bare, pipeline time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if _, err := ecdsa.SignASN1(rand.Reader, key, digest[:]); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := f.signer.Sign(c); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		bare += t1.Sub(t0)
		pipeline += t2.Sub(t1)
	}
	b.ReportMetric(float64(bare.Nanoseconds())/float64(b.N), "ecdsa-ns/op")
	b.ReportMetric(float64(pipeline.Nanoseconds())/float64(b.N), "pipeline-ns/op")
	b.ReportMetric(float64(pipeline)/float64(bare), "ratio")
}
