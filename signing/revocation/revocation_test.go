package revocation_test

import (
	"bytes"
	"compress/zlib"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"github.com/sedcc/dcc/signing/base45"
	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/revocation"
)

var issued = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

func payload(uvci string) dcc.Certificate {
	return dcc.Certificate{
		Version: dcc.SchemaVersion, Name: dcc.Name{FamilyName: "Nilsson", FamilyNameStandardised: "NILSSON"},
		DateOfBirth: "1958-11-11",
		Vaccination: []dcc.Vaccination{{
			Disease: "840539006", Vaccine: "J07BX03", Product: "EU/1/21/1529", Manufacturer: "ORG-100030215",
			DoseNumber: 2, TotalDoses: 2, Date: "2021-05-18", Country: "SE",
			Issuer: "Swedish eHealth Agency", ID: uvci,
		}},
	}
}

func sign(t *testing.T, key crypto.Signer, uvci string) string {
	t.Helper()
	cert, err := keys.SelfSigned(key, keys.Options{Now: issued.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := hcert.NewSigner(key, cert)
	if err != nil {
		t.Fatal(err)
	}
	hc1, err := s.Sign(hcert.Claims{Issuer: "SE", IssuedAt: issued, Expiry: issued.Add(24 * time.Hour), Payload: payload(uvci)})
	if err != nil {
		t.Fatal(err)
	}
	return hc1
}

// independent takes an HC1 apart without hcert and computes the three hashes straight from the
// EU definition: SHA-256 over the ci text, over iss followed by ci, and over the r half of an
// ES256 signature (the whole of a PS256 one), each cut to its first 16 bytes.
func independent(t *testing.T, hc1 string) (uci, ccuci, sig []byte) {
	t.Helper()
	z, err := base45.Decode(strings.TrimPrefix(hc1, "HC1:"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(raw); err != nil {
		t.Fatal(err)
	}
	var claims map[int]any
	if err := cbor.Unmarshal(msg.Payload, &claims); err != nil {
		t.Fatal(err)
	}
	iss := claims[1].(string)
	hc := claims[-260].(map[any]any)
	p := hc[uint64(1)].(map[any]any)
	var ci string
	for _, group := range []string{"v", "t", "r"} {
		if entries, ok := p[group].([]any); ok {
			ci = entries[0].(map[any]any)["ci"].(string)
		}
	}
	first16 := func(b []byte) []byte { s := sha256.Sum256(b); return s[:16] }
	alg, err := msg.Headers.Protected.Algorithm()
	if err != nil {
		t.Fatal(err)
	}
	signed := msg.Signature
	if alg == cose.AlgorithmES256 {
		signed = signed[:len(signed)/2]
	}
	return first16([]byte(ci)), first16([]byte(iss + ci)), first16(signed)
}

func TestHashesRecomputedIndependently(t *testing.T) {
	ec, err := keys.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(strings.NewReader(strings.Repeat("deterministic enough for a test key ", 200)), 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{{"ES256", ec}, {"PS256", rk}} {
		t.Run(tc.name, func(t *testing.T) {
			hc1 := sign(t, tc.key, "URN:UVCI:01:SE:EHM/V100000024GI5HM")
			d, err := hcert.Decode(hc1)
			if err != nil {
				t.Fatal(err)
			}
			got, err := revocation.Of(d)
			if err != nil {
				t.Fatal(err)
			}
			uci, ccuci, sig := independent(t, hc1)
			if !bytes.Equal(got.UCI, uci) || !bytes.Equal(got.CountryCodeUCI, ccuci) || !bytes.Equal(got.Signature, sig) {
				t.Errorf("hashes differ:\n got %x %x %x\nwant %x %x %x", got.UCI, got.CountryCodeUCI, got.Signature, uci, ccuci, sig)
			}
			for _, h := range [][]byte{got.UCI, got.CountryCodeUCI, got.Signature} {
				if len(h) != revocation.HashLength {
					t.Errorf("hash of %d bytes", len(h))
				}
			}
		})
	}
}

// Known answers, computed outside Go with coreutils and Python:
//
//	printf '%s' 'URN:UVCI:01:SE:EHM/V100000024GI5HM' | sha256sum | cut -c1-32
//	printf '%s' 'SEURN:UVCI:01:SE:EHM/V100000024GI5HM' | sha256sum | cut -c1-32
//	python3 -c 'import hashlib; print(hashlib.sha256(bytes(range(32))).hexdigest()[:32])'
//	python3 -c 'import hashlib; print(hashlib.sha256(bytes(range(256))).hexdigest()[:32])'
func TestKnownAnswers(t *testing.T) {
	const uvci = "URN:UVCI:01:SE:EHM/V100000024GI5HM"
	sig := make([]byte, 64)
	for i := range sig {
		sig[i] = byte(i)
	}
	es, err := revocation.SignatureHash(-7, sig)
	if err != nil {
		t.Fatal(err)
	}
	long := make([]byte, 256)
	for i := range long {
		long[i] = byte(i)
	}
	ps, err := revocation.SignatureHash(-37, long)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		got  []byte
		want string
	}{
		"UCI":             {revocation.UCIHash(uvci), "575af2b7ceeeb713ea1205c39f463487"},
		"COUNTRYCODEUCI":  {revocation.CountryCodeUCIHash("SE", uvci), "5c0da41af3a46f7b748d38a6f234ec70"},
		"SIGNATURE ES256": {es, "630dcd2966c4336691125448bbb25b4f"},
		"SIGNATURE PS256": {ps, "40aff2e9d2d8922e47afd4648e696749"},
	} {
		if hex.EncodeToString(tc.got) != tc.want {
			t.Errorf("%s: %x, want %s", name, tc.got, tc.want)
		}
	}
	if _, err := revocation.SignatureHash(-7, sig[:63]); err == nil {
		t.Error("short ES256 signature hashed")
	}
	if _, err := revocation.SignatureHash(-8, sig); err == nil {
		t.Error("unknown algorithm hashed")
	}
}

func TestBuildList(t *testing.T) {
	kidA, kidB := []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{9, 9, 9, 9, 9, 9, 9, 9}
	h := func(uvci string) revocation.Hashes {
		return revocation.Hashes{UCI: revocation.UCIHash(uvci), CountryCodeUCI: revocation.CountryCodeUCIHash("SE", uvci),
			Signature: revocation.UCIHash("sig" + uvci)}
	}
	in := []revocation.Revoked{
		{KID: kidB, Expires: issued.Add(48 * time.Hour), Hashes: h("B1")},
		{KID: kidA, Expires: issued.Add(24 * time.Hour), Hashes: h("A1")},
		{KID: kidA, Expires: issued.Add(72 * time.Hour), Hashes: h("A2")},
	}
	l := revocation.Build("SE", issued, in)
	if len(l.Batches) != 6 {
		t.Fatalf("%d batches, want 2 kids x 3 types", len(l.Batches))
	}
	first := l.Batches[0]
	if first.KID != base64.StdEncoding.EncodeToString(kidA) || first.HashType != revocation.HashSignature ||
		len(first.Entries) != 2 || !first.Expires.Equal(issued.Add(72*time.Hour)) {
		t.Errorf("first batch %+v", first)
	}
	if !l.Contains(kidA, h("A2")) || l.Contains(kidB, h("A2")) || !l.Contains(kidB, h("B1")) {
		t.Error("Contains does not follow the batches")
	}
	// The same content in another order gives the same document.
	again := revocation.Build("SE", issued, []revocation.Revoked{in[2], in[0], in[1]})
	a, _ := json.Marshal(l)
	b, _ := json.Marshal(again)
	if !bytes.Equal(a, b) {
		t.Errorf("order-dependent:\n%s\n%s", a, b)
	}
	empty, _ := json.Marshal(revocation.Build("SE", time.Time{}, nil))
	if !strings.Contains(string(empty), `"batches":[]`) {
		t.Errorf("empty list %s", empty)
	}
}
