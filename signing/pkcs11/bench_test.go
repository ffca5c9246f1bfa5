package pkcs11

import (
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/pkcs11/softhsm"
)

// BenchmarkSign compares a DCC signed in a SoftHSM2 token with one signed by the in-process
// file key, both through the whole pipeline (CBOR, COSE, zlib, Base45) and under parallel load
// (b.RunParallel, GOMAXPROCS goroutines; -cpu sets more). docs/perf.md records the ratio.
func BenchmarkSign(b *testing.B) {
	tk := softhsm.NewToken(b, "dcc-bench", "1234")
	tok, err := Open(Config{Module: tk.Module, Token: tk.Label, PIN: tk.PIN})
	if err != nil {
		b.Fatal(err)
	}
	defer tok.Close()
	hsmKey, err := tok.Generate(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	fileKey, err := keys.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	payload := dcc.Certificate{Version: dcc.SchemaVersion, Name: dcc.Name{FamilyName: "Lövström", FamilyNameStandardised: "LOEVSTROEM", GivenName: "Åsa", GivenNameStandardised: "ASA"},
		DateOfBirth: "1958-11-11",
		Vaccination: []dcc.Vaccination{{Disease: "840539006", Vaccine: "J07BX03", Product: "EU/1/20/1528", Manufacturer: "ORG-100030215",
			DoseNumber: 2, TotalDoses: 2, Date: "2021-05-18", Country: "SE", Issuer: "Swedish eHealth Agency", ID: "URN:UVCI:01:SE:EHM/V100000024GI5HM#D"}}}
	claims := hcert.Claims{Issuer: "SE", IssuedAt: now, Expiry: now.Add(365 * 24 * time.Hour), Payload: payload}
	for _, k := range []struct {
		name string
		key  crypto.Signer
	}{{"file", fileKey}, {"hsm", hsmKey}} {
		dsc, err := keys.SelfSigned(k.key, keys.Options{Now: now})
		if err != nil {
			b.Fatal(err)
		}
		s, err := hcert.NewSigner(k.key, dsc)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("hc1/%s", k.name), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Sign(claims); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(fmt.Sprintf("digest/%s", k.name), func(b *testing.B) {
			d := sha256.Sum256([]byte("digest"))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := k.key.Sign(nil, d[:], crypto.SHA256); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkSignRaw is the token's own cost: C_SignInit and C_Sign on a session per goroutine,
// without the pool, the timeout or the DER encoding, to tell the library's share of
// BenchmarkSign/digest/hsm from the signer's.
func BenchmarkSignRaw(b *testing.B) {
	tk := softhsm.NewToken(b, "dcc-bench", "1234")
	tok, err := Open(Config{Module: tk.Module, Token: tk.Label, PIN: tk.PIN})
	if err != nil {
		b.Fatal(err)
	}
	defer tok.Close()
	key, err := tok.Generate(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	s, err := tok.acquire(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	h, err := key.handleFor(s)
	tok.release(s, false)
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("digest"))
	b.RunParallel(func(pb *testing.PB) {
		sh, err := tok.lib.OpenSession(tok.slot, p11.CKF_SERIAL_SESSION)
		if err != nil {
			b.Error(err)
			return
		}
		defer tok.lib.CloseSession(sh)
		for pb.Next() {
			if err := tok.lib.SignInit(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_ECDSA, nil)}, h); err != nil {
				b.Error(err)
				return
			}
			if _, err := tok.lib.Sign(sh, d[:]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSignRatio compares the throughput of HSM and file signing in the same time windows,
// so that load from others on a shared machine weighs on both alike: b.N rounds, each signing
// 64 HC1s with the in-process key and then 64 with the token's key, each batch spread over
// 4 goroutines per CPU (more than the cores, as on a loaded server). It reports the wall time
// per signature of each and their ratio hsm/file.
func BenchmarkSignRatio(b *testing.B) {
	tk := softhsm.NewToken(b, "dcc-bench", "1234")
	tok, err := Open(Config{Module: tk.Module, Token: tk.Label, PIN: tk.PIN})
	if err != nil {
		b.Fatal(err)
	}
	defer tok.Close()
	hsmKey, err := tok.Generate(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	fileKey, err := keys.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	payload := dcc.Certificate{Version: dcc.SchemaVersion, Name: dcc.Name{FamilyName: "Lövström", FamilyNameStandardised: "LOEVSTROEM"},
		DateOfBirth: "1958-11-11",
		Vaccination: []dcc.Vaccination{{Disease: "840539006", Vaccine: "J07BX03", Product: "EU/1/20/1528", Manufacturer: "ORG-100030215",
			DoseNumber: 2, TotalDoses: 2, Date: "2021-05-18", Country: "SE", Issuer: "Swedish eHealth Agency", ID: "URN:UVCI:01:SE:EHM/V100000024GI5HM#D"}}}
	claims := hcert.Claims{Issuer: "SE", IssuedAt: now, Expiry: now.Add(365 * 24 * time.Hour), Payload: payload}
	var signers [2]*hcert.Signer
	for i, k := range []crypto.Signer{fileKey, hsmKey} {
		dsc, err := keys.SelfSigned(k, keys.Options{Now: now})
		if err != nil {
			b.Fatal(err)
		}
		if signers[i], err = hcert.NewSigner(k, dsc); err != nil {
			b.Fatal(err)
		}
	}
	const batch = 64
	workers := 4 * runtime.GOMAXPROCS(0)
	var spent [2]time.Duration
	run := func(s *hcert.Signer) time.Duration {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range workers {
			wg.Go(func() {
				for next.Add(1) <= batch {
					if _, err := s.Sign(claims); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		spent[0] += run(signers[0])
		spent[1] += run(signers[1])
	}
	b.StopTimer()
	n := float64(b.N * batch)
	file, hsm := float64(spent[0].Nanoseconds())/n, float64(spent[1].Nanoseconds())/n
	b.ReportMetric(file/1e3, "file-µs/sig")
	b.ReportMetric(hsm/1e3, "hsm-µs/sig")
	b.ReportMetric(hsm/file, "hsm/file")
}
