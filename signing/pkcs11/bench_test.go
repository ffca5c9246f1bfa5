package pkcs11

import (
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

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
