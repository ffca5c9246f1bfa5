package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

// BenchmarkSignRatio compares HSM and file signing in the same time windows, so that load from
// others on a shared machine weighs on both alike: b.N rounds, each signing a batch with the
// in-process key and then the same batch with the token's key. The batch is either the whole HC1
// pipeline (CBOR, COSE, zlib, Base45: what issuance pays) or the bare crypto.Signer call on a
// digest, run by one goroutine (serial) or by 4 per CPU (parallel, more than the cores, as on a
// loaded server). It reports, for each key, the wall time per signature and the processor time
// per signature (user and system time of the whole process, which other processes' load does not
// inflate), and the ratios hsm/file of both.
func BenchmarkSignRatio(b *testing.B) {
	cfg, label := benchToken(b)
	fileKey, err := keys.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	claims := benchClaims(now)
	d := sha256.Sum256([]byte("digest"))
	procs := runtime.GOMAXPROCS(0)
	sessions := []int{procs}
	if procs != 8 {
		sessions = append(sessions, 8) // the default
	}
	for _, n := range sessions {
		// One connection at a time: a new one closes the slot's sessions of the old.
		c := cfg
		c.Sessions = n
		tok, err := Open(c)
		if err != nil {
			b.Fatal(err)
		}
		hsmKey, err := tok.Key(context.Background(), label)
		if err != nil {
			b.Fatal(err)
		}
		var hc1, digest [2]func() error
		for i, k := range []crypto.Signer{fileKey, hsmKey} {
			dsc, err := keys.SelfSigned(k, keys.Options{Now: now})
			if err != nil {
				b.Fatal(err)
			}
			s, err := hcert.NewSigner(k, dsc)
			if err != nil {
				b.Fatal(err)
			}
			hc1[i] = func() error { _, err := s.Sign(claims); return err }
			digest[i] = func() error { _, err := k.Sign(nil, d[:], crypto.SHA256); return err }
		}
		for _, c := range []struct {
			name string
			sign [2]func() error
		}{{"hc1", hc1}, {"digest", digest}} {
			for _, par := range []struct {
				name    string
				workers int
			}{{"serial", 1}, {"parallel", 4 * procs}} {
				b.Run(fmt.Sprintf("sessions=%d/%s/%s", n, c.name, par.name), func(b *testing.B) {
					alternate(b, par.workers, 64, c.sign[0], c.sign[1], "file", "hsm")
				})
			}
		}
		tok.Close()
	}
}

// benchToken makes a key for BenchmarkSignRatio and returns the token's configuration and the
// key's label. The token is a new SoftHSM2 token, or, when DCC_BENCH_PKCS11_MODULE is set, the
// token DCC_BENCH_PKCS11_TOKEN of that module with the PIN in DCC_BENCH_PKCS11_PIN_FILE (a test
// token or partition of the production HSM, to measure it): the key is generated under a new
// label there and destroyed at the end.
func benchToken(b *testing.B) (Config, string) {
	cfg := Config{Module: os.Getenv("DCC_BENCH_PKCS11_MODULE"), Token: os.Getenv("DCC_BENCH_PKCS11_TOKEN")}
	label := "bench"
	if cfg.Module == "" {
		tk := softhsm.NewToken(b, "dcc-bench", "1234")
		cfg.Module, cfg.Token, cfg.PIN = tk.Module, tk.Label, tk.PIN
	} else {
		pin, err := os.ReadFile(os.Getenv("DCC_BENCH_PKCS11_PIN_FILE"))
		if err != nil {
			b.Fatalf("DCC_BENCH_PKCS11_PIN_FILE: %v", err)
		}
		cfg.PIN = strings.TrimSpace(strings.SplitN(string(pin), "\n", 2)[0])
		label = fmt.Sprintf("dcc-bench-%d", time.Now().UnixNano())
	}
	c := cfg
	c.Sessions = 1
	tok, err := Open(c)
	if err != nil {
		b.Fatal(err)
	}
	defer tok.Close()
	if _, err := tok.Generate(context.Background(), label); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		tok, err := Open(c)
		if err != nil {
			b.Errorf("retire the benchmark key %q: %v", label, err)
			return
		}
		defer tok.Close()
		if err := tok.Retire(context.Background(), label); err != nil {
			b.Errorf("retire the benchmark key %q: %v", label, err)
		}
	})
	return cfg, label
}

// alternate runs b.N rounds of batch calls of ref and then of batch calls of alt, each batch
// spread over workers goroutines, and reports the wall and processor time per call of each
// (refName-µs/sig, refName-cpu-µs/sig, …) and the ratios alt/ref of both.
func alternate(b *testing.B, workers, batch int, ref, alt func() error, refName, altName string) {
	b.Helper()
	var wall, cpu [2]time.Duration
	run := func(f func() error) (time.Duration, time.Duration) {
		var next atomic.Int64
		var wg sync.WaitGroup
		cpu0 := processCPU(b)
		start := time.Now()
		for range workers {
			wg.Go(func() {
				for next.Add(1) <= int64(batch) {
					if err := f(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start), processCPU(b) - cpu0
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, f := range []func() error{ref, alt} {
			w, c := run(f)
			wall[j] += w
			cpu[j] += c
		}
	}
	b.StopTimer()
	n := float64(b.N * batch)
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / n / 1e3 }
	b.ReportMetric(per(wall[0]), refName+"-µs/sig")
	b.ReportMetric(per(wall[1]), altName+"-µs/sig")
	b.ReportMetric(per(wall[1])/per(wall[0]), altName+"/"+refName)
	b.ReportMetric(per(cpu[0]), refName+"-cpu-µs/sig")
	b.ReportMetric(per(cpu[1]), altName+"-cpu-µs/sig")
	b.ReportMetric(per(cpu[1])/per(cpu[0]), altName+"/"+refName+"-cpu")
}

// processCPU is the user and system time the process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchClaims(now time.Time) hcert.Claims {
	payload := dcc.Certificate{Version: dcc.SchemaVersion, Name: dcc.Name{FamilyName: "Lövström", FamilyNameStandardised: "LOEVSTROEM"},
		DateOfBirth: "1958-11-11",
		Vaccination: []dcc.Vaccination{{Disease: "840539006", Vaccine: "J07BX03", Product: "EU/1/20/1528", Manufacturer: "ORG-100030215",
			DoseNumber: 2, TotalDoses: 2, Date: "2021-05-18", Country: "SE", Issuer: "Swedish eHealth Agency", ID: "URN:UVCI:01:SE:EHM/V100000024GI5HM#D"}}}
	return hcert.Claims{Issuer: "SE", IssuedAt: now, Expiry: now.Add(365 * 24 * time.Hour), Payload: payload}
}

// BenchmarkTokenFloor tells the token's share of the cost from the signer's, serially (each
// figure is one signature's cost) and in the same rounds as BenchmarkSignRatio:
//   - token/go: Go's bare ECDSA P-256 signature (ecdsa.SignASN1, what the file key does) against
//     the bare PKCS #11 calls on one session (the binding's C_SignInit and C_Sign, as Key.Sign
//     makes them, without pool, timeout or DER encoding): what the token costs on its own;
//   - signer/token: those bare calls against the whole Key.Sign: what this package adds;
//   - session/token: the same key copied into a session object (C_CopyObject, CKA_TOKEN false),
//     which SoftHSM2 keeps in memory, against the token object, which its file store checks on
//     disk at every C_SignInit. This measures the file store's share; the signer does not use
//     session copies (a key retired in the token would keep signing through its copy).
func BenchmarkTokenFloor(b *testing.B) {
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
	goKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	s, err := tok.acquire(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer tok.release(s, false)
	h, err := key.handleFor(s)
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("digest"))
	goSign := func() error { _, err := ecdsa.SignASN1(rand.Reader, goKey, d[:]); return err }
	bare := func(obj p11.ObjectHandle) func() error {
		return func() error {
			if err := tok.lib.SignInit(s.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_ECDSA, nil)}, obj); err != nil {
				return err
			}
			_, err := tok.lib.Sign(s.h, d[:])
			return err
		}
	}
	direct := bare(h)
	signer := func() error { _, err := key.Sign(nil, d[:], crypto.SHA256); return err }
	sessionCopy, err := tok.lib.CopyObject(s.h, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_TOKEN, false)})
	if err != nil {
		b.Fatal(err)
	}
	inMemory := bare(sessionCopy)
	b.Run("token/go", func(b *testing.B) { alternate(b, 1, 64, goSign, direct, "go", "token") })
	b.Run("signer/token", func(b *testing.B) { alternate(b, 1, 64, direct, signer, "token", "signer") })
	b.Run("session-object/token", func(b *testing.B) { alternate(b, 1, 64, direct, inMemory, "token", "session") })
}

// BenchmarkGoECDSA is Go's bare ECDSA P-256 signature alone on one goroutine, to set beside
// OpenSSL's (`openssl speed -seconds 3 ecdsap256`, single-threaded) in the same shell loop:
// SoftHSM2 signs with OpenSSL, so the two tell the curve arithmetic of each library from SoftHSM's
// own work around it.
func BenchmarkGoECDSA(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("digest"))
	cpu0 := processCPU(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := ecdsa.SignASN1(rand.Reader, key, d[:]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N)/1e3, "cpu-µs/sig")
	b.ReportMetric(1e9/(float64(b.Elapsed().Nanoseconds())/float64(b.N)), "sig/s")
}
