package keys

import (
	"testing"
	"time"
)

// FuzzParseCSR: a CSR comes from outside (the operator's file, another team's tooling). Whatever
// it holds, parsing either fails or yields a request whose signature checks and which the
// development CSCA can sign.
func FuzzParseCSR(f *testing.F) {
	key, err := NewKey()
	if err != nil {
		f.Fatal(err)
	}
	csr, err := CSR(key, Options{CommonName: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(csr)
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{0x30, 0x82, 0x01, 0x00})
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	cscaKey, err := NewKey()
	if err != nil {
		f.Fatal(err)
	}
	csca, err := NewCSCA(cscaKey, CSCAOptions{Now: now})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := ParseCSR(raw)
		if err != nil {
			return
		}
		if err := req.CheckSignature(); err != nil {
			t.Fatalf("ParseCSR accepted a request whose signature does not check: %v", err)
		}
		// Issuing may refuse (no DCC usage asked for, unsupported key), but must not panic.
		_, _ = IssueDSC(cscaKey, csca, req, now, time.Hour)
	})
}
