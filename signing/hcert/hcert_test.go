package hcert

import (
	"bytes"
	"compress/zlib"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"github.com/sedcc/dcc/signing/base45"
	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/dcc/dccschema"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/valueset"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

var (
	issued  = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	expires = issued.Add(72 * time.Hour)
)

// mapTrust is the simplest Trust: kid -> certificates.
type mapTrust map[string][]*x509.Certificate

func (m mapTrust) Lookup(kid []byte) []*x509.Certificate { return m[string(kid)] }

func trustOf(certs ...*x509.Certificate) mapTrust {
	m := mapTrust{}
	for _, c := range certs {
		m[string(keys.KID(c))] = append(m[string(keys.KID(c))], c)
	}
	return m
}

func testPayload() dcc.Certificate {
	name, err := dcc.NewName("Lövström-Åberg", "Oscar Björn")
	if err != nil {
		panic(err)
	}
	return dcc.Certificate{
		Version:     dcc.SchemaVersion,
		Name:        name,
		DateOfBirth: "1958-11-11",
		Vaccination: []dcc.Vaccination{{
			Disease: "840539006", Vaccine: "J07BX03", Product: "EU/1/21/1529", Manufacturer: "ORG-100030215",
			DoseNumber: 2, TotalDoses: 2, Date: "2021-05-18", Country: "SE",
			Issuer: "Swedish eHealth Agency", ID: "URN:UVCI:01:SE:EHM/V100000024GI5HM",
		}},
	}
}

func testTestPayload() dcc.Certificate {
	p := testPayload()
	p.Vaccination = nil
	p.Test = []dcc.Test{{
		Disease: "840539006", Type: "LP217198-3", Device: "1232", SampleCollected: "2026-02-28T10:12:22Z",
		Result: "260415000", Centre: "Testcenter Stockholm", Country: "SE",
		Issuer: "Swedish eHealth Agency", ID: "URN:UVCI:01:SE:EHM/TSTAX67554312",
	}}
	return p
}

type fixture struct {
	key    crypto.Signer
	cert   *x509.Certificate
	signer *Signer
}

func newFixture(t testing.TB, opts ...func(*x509.Certificate)) fixture {
	t.Helper()
	key, err := keys.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := keys.SelfSigned(key, keys.Options{Now: issued.Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(key, cert)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{key: key, cert: cert, signer: s}
}

func (f fixture) sign(t testing.TB, p dcc.Certificate) string {
	t.Helper()
	hc1, err := f.signer.Sign(Claims{Issuer: "SE", IssuedAt: issued, Expiry: expires, Payload: p})
	if err != nil {
		t.Fatal(err)
	}
	return hc1
}

// signUncapped signs as an issuer would that does not cap exp at its DSC's NotAfter (this
// package's Signer does), for the verifier's tests.
func (f fixture) signUncapped(t testing.TB, p dcc.Certificate) string {
	t.Helper()
	cwt, err := f.signer.codec.enc.Marshal(cwtClaims{Issuer: "SE", Expiry: expires.Unix(), IssuedAt: issued.Unix(), HCert: hcertClaim{DCC: &p}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := f.signer.SignCWT(cwt)
	if err != nil {
		t.Fatal(err)
	}
	hc1, err := f.signer.Encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	return hc1
}

// TestSignWithinDSCValidity: the signer refuses to sign before its DSC's NotBefore or after its
// NotAfter, and caps exp at NotAfter.
func TestSignWithinDSCValidity(t *testing.T) {
	f := newFixture(t)
	dsc := f.signer.Certificate()
	for name, iat := range map[string]time.Time{
		"before NotBefore": dsc.NotBefore.Add(-time.Second),
		"after NotAfter":   dsc.NotAfter.Add(time.Second),
	} {
		_, err := f.signer.Sign(Claims{Issuer: "SE", IssuedAt: iat, Expiry: iat.Add(time.Hour), Payload: testPayload()})
		if !errors.Is(err, ErrOutsideValidity) {
			t.Errorf("%s: %v, want ErrOutsideValidity", name, err)
		}
	}
	iat := dsc.NotAfter.Add(-time.Hour)
	hc1, err := f.signer.Sign(Claims{Issuer: "SE", IssuedAt: iat, Expiry: dsc.NotAfter.Add(365 * 24 * time.Hour), Payload: testPayload()})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(hc1)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Claims.Expiry.Equal(dsc.NotAfter.Truncate(time.Second)) {
		t.Errorf("exp %s, want the DSC's NotAfter %s", d.Claims.Expiry, dsc.NotAfter)
	}
}

// The backbone: sign, decode, verify, and get back exactly what was signed.
func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	schema, err := dccschema.Compile()
	if err != nil {
		t.Fatal(err)
	}
	cat := valueset.MustLoad()
	for _, p := range []dcc.Certificate{testPayload(), testTestPayload()} {
		hc1 := f.sign(t, p)
		if !strings.HasPrefix(hc1, "HC1:") {
			t.Fatalf("no prefix: %q", hc1)
		}
		d, err := Verify(hc1, trustOf(f.cert), issued.Add(time.Hour))
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if !reflect.DeepEqual(d.Claims.Payload, p) {
			t.Errorf("payload differs:\n got %+v\nwant %+v", d.Claims.Payload, p)
		}
		if d.Claims.Issuer != "SE" || !d.Claims.IssuedAt.Equal(issued) || !d.Claims.Expiry.Equal(expires) {
			t.Errorf("claims %+v", d.Claims)
		}
		if d.Algorithm != int64(cose.AlgorithmES256) || !bytes.Equal(d.KID, f.signer.KID()) || d.KIDUnprotected {
			t.Errorf("headers alg %d kid %x", d.Algorithm, d.KID)
		}
		if len(d.Unprotected) != 0 {
			t.Errorf("unprotected header not empty: %v", d.Unprotected)
		}
		// The payload as signed validates against the official schema and the value sets.
		var generic any
		if err := cbor.Unmarshal(d.RawPayload, &generic); err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(jsonable(generic))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.ValidateJSON(js); err != nil {
			t.Errorf("signed payload fails the schema: %v\n%s", err, js)
		}
		if err := d.Claims.Payload.ValidateCodes(cat); err != nil {
			t.Errorf("signed payload fails the value sets: %v", err)
		}
	}
}

func TestCOSEStructure(t *testing.T) {
	f := newFixture(t)
	d, err := Decode(f.sign(t, testPayload()))
	if err != nil {
		t.Fatal(err)
	}
	if d.COSE[0] != 0xd2 {
		t.Errorf("COSE_Sign1 not tagged 18: %x", d.COSE[:2])
	}
	var m cose.Sign1Message
	if err := m.UnmarshalCBOR(d.COSE); err != nil {
		t.Fatal(err)
	}
	// go-cose verifies it too (independent Sig_structure construction).
	v, err := cose.NewVerifier(cose.AlgorithmES256, f.cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(nil, v); err != nil {
		t.Errorf("go-cose rejects the signature: %v", err)
	}
	if len(m.Signature) != 64 {
		t.Errorf("ES256 signature of %d bytes, want 64 (r||s)", len(m.Signature))
	}
	// Claims keys are exactly 1, 4, 6, -260, in deterministic order.
	var claims map[int64]cbor.RawMessage
	if err := cbor.Unmarshal(m.Payload, &claims); err != nil {
		t.Fatal(err)
	}
	if len(claims) != 4 || claims[1] == nil || claims[4] == nil || claims[6] == nil || claims[-260] == nil {
		t.Errorf("claims keys %v", claims)
	}
	enc, _ := cbor.CoreDetEncOptions().EncMode()
	var generic any
	_ = cbor.Unmarshal(m.Payload, &generic)
	again, _ := enc.Marshal(generic)
	if !bytes.Equal(again, m.Payload) {
		t.Error("claims are not in deterministic (Core) encoding")
	}
}

func TestRSAPS256(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := keys.SelfSigned(key, keys.Options{Now: issued.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(key, cert)
	if err != nil {
		t.Fatal(err)
	}
	hc1, err := s.Sign(Claims{Issuer: "SE", IssuedAt: issued, Expiry: expires, Payload: testPayload()})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Verify(hc1, trustOf(cert), issued)
	if err != nil {
		t.Fatal(err)
	}
	if d.Algorithm != int64(cose.AlgorithmPS256) {
		t.Errorf("algorithm %d, want PS256", d.Algorithm)
	}
}

func TestNewSignerErrors(t *testing.T) {
	a, b := newFixture(t), newFixture(t)
	if _, err := NewSigner(a.key, b.cert); !errors.Is(err, keys.ErrKeyMismatch) {
		t.Errorf("mismatched key: %v", err)
	}
	if _, err := NewSigner(nil, a.cert); err == nil {
		t.Error("nil key accepted")
	}
}

func TestSignRejects(t *testing.T) {
	f := newFixture(t)
	bad := testPayload()
	bad.Name.FamilyNameStandardised = "lower"
	cases := map[string]Claims{
		"issuer":        {Issuer: "Sweden", IssuedAt: issued, Expiry: expires, Payload: testPayload()},
		"no iat":        {Issuer: "SE", Expiry: expires, Payload: testPayload()},
		"exp<iat":       {Issuer: "SE", IssuedAt: expires, Expiry: issued, Payload: testPayload()},
		"payload":       {Issuer: "SE", IssuedAt: issued, Expiry: expires, Payload: bad},
		"empty payload": {Issuer: "SE", IssuedAt: issued, Expiry: expires},
	}
	for name, c := range cases {
		if _, err := f.signer.Sign(c); err == nil {
			t.Errorf("%s: Sign accepted invalid claims", name)
		}
	}
	var ve *dcc.ValidationError
	if _, err := f.signer.Sign(cases["payload"]); !errors.As(err, &ve) {
		t.Errorf("invalid payload error %v is not a *dcc.ValidationError", err)
	}
}

func TestVerifyErrors(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	hc1 := f.sign(t, testPayload())
	trust := trustOf(f.cert)

	// A DSC that may sign only tests.
	testOnlyCert := func() (*Signer, *x509.Certificate) {
		key, _ := keys.NewKey()
		tmpl := &x509.Certificate{
			SerialNumber: f.cert.SerialNumber, Subject: f.cert.Subject,
			NotBefore: f.cert.NotBefore, NotAfter: f.cert.NotAfter,
			UnknownExtKeyUsage: []asn1.ObjectIdentifier{keys.OIDTest},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		s, err := NewSigner(key, cert)
		if err != nil {
			t.Fatal(err)
		}
		return s, cert
	}
	tos, toCert := testOnlyCert()
	// Sign refuses a vaccination for this DSC; a careless signer would write it as below.
	if _, err := tos.Sign(Claims{Issuer: "SE", IssuedAt: issued, Expiry: expires, Payload: testPayload()}); !errors.Is(err, ErrKeyUsage) {
		t.Fatalf("Sign of a vaccination with a test-only DSC: %v", err)
	}
	vp := testPayload()
	cwt, err := tos.codec.enc.Marshal(cwtClaims{Issuer: "SE", IssuedAt: issued.Unix(), Expiry: expires.Unix(), HCert: hcertClaim{DCC: &vp}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := tos.SignCWT(cwt)
	if err != nil {
		t.Fatal(err)
	}
	vaccByTestDSC, err := tos.Encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	testByTestDSC, err := tos.Sign(Claims{Issuer: "SE", IssuedAt: issued, Expiry: expires, Payload: testTestPayload()})
	if err != nil {
		t.Fatal(err)
	}

	// A DSC that expires an hour after the certificate was issued.
	shortDSC := func() fixture {
		key, _ := keys.NewKey()
		cert, err := keys.SelfSigned(key, keys.Options{Now: issued.Add(-time.Hour), Validity: 2 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewSigner(key, cert)
		if err != nil {
			t.Fatal(err)
		}
		return fixture{key: key, cert: cert, signer: s}
	}()

	// The same kid as f, but another key: a forged or corrupted signature.
	forgedKID := mapTrust{string(f.signer.KID()): {other.cert}}

	cases := []struct {
		name  string
		hc1   string
		trust Trust
		now   time.Time
		want  error
	}{
		{"ok", hc1, trust, issued, nil},
		{"at expiry", hc1, trust, expires, nil},
		{"expired", hc1, trust, expires.Add(time.Second), ErrExpired},
		{"not yet valid", hc1, trust, issued.Add(-time.Second), ErrNotYetValid},
		{"unknown kid", hc1, trustOf(other.cert), issued, ErrUnknownKID},
		{"nil trust", hc1, nil, issued, ErrUnknownKID},
		{"bad signature", hc1, forgedKID, issued, ErrBadSignature},
		{"flipped signature bit", flipSignature(t, hc1), trust, issued, ErrBadSignature},
		{"key usage", vaccByTestDSC, trustOf(toCert), issued, ErrKeyUsage},
		{"key usage ok", testByTestDSC, trustOf(toCert), issued, nil},
		{"dsc expired", shortDSC.signUncapped(t, testPayload()), trustOf(shortDSC.cert), issued.Add(2 * time.Hour), ErrDSCValidity},
		{"dsc still valid", shortDSC.signUncapped(t, testPayload()), trustOf(shortDSC.cert), issued.Add(time.Hour / 2), nil},
		{"unknown algorithm", withAlgorithm(t, f, hc1, cose.AlgorithmES384), trust, issued, ErrUnknownAlgorithm},
		{"wrong prefix", "HC2:" + hc1[4:], trust, issued, ErrPrefix},
		{"no prefix", hc1[4:], trust, issued, ErrPrefix},
		{"lower-case base45", "HC1:" + strings.ToLower(hc1[4:]), trust, issued, ErrEncoding},
		{"oversized", "HC1:" + strings.Repeat("0", MaxEncodedLength), trust, issued, ErrTooLarge},
		{"trailing zlib data", appendAfterZlib(t, hc1, []byte{0, 0}), trust, issued, ErrTrailingData},
		{"trailing COSE data", appendAfterCOSE(t, hc1, []byte{0x00}), trust, issued, ErrTrailingData},
		{"truncated zlib", truncateZlib(t, hc1, 10), trust, issued, ErrCompression},
		{"truncated base45", hc1[:len(hc1)-1], trust, issued, ErrEncoding},
		{"not compressed", "HC1:" + base45.Encode(mustDecode(t, hc1).COSE), trust, issued, ErrCompression},
		{"zip bomb", "HC1:" + base45.Encode(compress(t, bytes.Repeat([]byte{0}, MaxInflatedSize+1))), trust, issued, ErrTooLarge},
		{"not COSE", "HC1:" + base45.Encode(compress(t, []byte("hello"))), trust, issued, ErrMalformed},
	}
	for _, c := range cases {
		_, err := Verify(c.hc1, c.trust, c.now)
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: Verify = %v, want %v", c.name, err, c.want)
		}
		if c.want != nil && Reason(err) == "invalid" {
			t.Errorf("%s: no reason code for %v", c.name, err)
		}
	}
}

func mustDecode(t *testing.T, hc1 string) *Decoded {
	t.Helper()
	d, err := Decode(hc1)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func compress(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func flipSignature(t *testing.T, hc1 string) string {
	d := mustDecode(t, hc1)
	cose := bytes.Clone(d.COSE)
	cose[len(cose)-1] ^= 0x01
	return "HC1:" + base45.Encode(compress(t, cose))
}

func appendAfterZlib(t *testing.T, hc1 string, extra []byte) string {
	z, err := base45.Decode(hc1[4:])
	if err != nil {
		t.Fatal(err)
	}
	return "HC1:" + base45.Encode(append(z, extra...))
}

func truncateZlib(t *testing.T, hc1 string, n int) string {
	z, err := base45.Decode(hc1[4:])
	if err != nil {
		t.Fatal(err)
	}
	return "HC1:" + base45.Encode(z[:len(z)-n])
}

func appendAfterCOSE(t *testing.T, hc1 string, extra []byte) string {
	d := mustDecode(t, hc1)
	return "HC1:" + base45.Encode(compress(t, append(bytes.Clone(d.COSE), extra...)))
}

// withAlgorithm re-signs the message with a protected header naming alg.
func withAlgorithm(t *testing.T, f fixture, hc1 string, alg cose.Algorithm) string {
	d := mustDecode(t, hc1)
	var m cose.Sign1Message
	if err := m.UnmarshalCBOR(d.COSE); err != nil {
		t.Fatal(err)
	}
	m.Headers.RawProtected = nil
	m.Headers.Protected[cose.HeaderLabelAlgorithm] = alg
	out, err := m.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	return "HC1:" + base45.Encode(compress(t, out))
}

// A kid only in the unprotected header is accepted, as EU test vectors carry it there.
func TestUnprotectedKID(t *testing.T) {
	f := newFixture(t)
	cwt, err := f.signer.EncodeClaims(Claims{Issuer: "SE", IssuedAt: issued, Expiry: expires, Payload: testPayload()})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := cose.NewSigner(cose.AlgorithmES256, f.key)
	if err != nil {
		t.Fatal(err)
	}
	m := cose.Sign1Message{
		Headers: cose.Headers{
			Protected:   cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256},
			Unprotected: cose.UnprotectedHeader{cose.HeaderLabelKeyID: f.signer.KID()},
		},
		Payload: cwt,
	}
	if err := m.Sign(rand.Reader, nil, signer); err != nil {
		t.Fatal(err)
	}
	raw, err := m.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	hc1, err := f.signer.Encode(raw)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Verify(hc1, trustOf(f.cert), issued)
	if err != nil {
		t.Fatal(err)
	}
	if !d.KIDUnprotected {
		t.Error("KIDUnprotected not set")
	}
}

func TestConcurrentSign(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				hc1, err := f.signer.Sign(Claims{Issuer: "SE", IssuedAt: issued, Expiry: expires, Payload: testPayload()})
				if err == nil {
					_, err = Verify(hc1, trustOf(f.cert), issued)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestReason(t *testing.T) {
	if Reason(nil) != "" || Reason(errors.New("x")) != "invalid" {
		t.Error("Reason of nil or foreign error")
	}
	if Reason(errors.Join(ErrBadSignature, errors.New("x"))) != "bad-signature" {
		t.Error("Reason of wrapped error")
	}
}

// Golden files: the deterministic artefacts of a fixed payload. Run with -update to rewrite.
func TestGolden(t *testing.T) {
	f := newFixture(t)
	cwt, err := f.signer.EncodeClaims(Claims{Issuer: "SE", IssuedAt: issued, Expiry: expires, Payload: testPayload()})
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := cbor.CoreDetEncOptions().EncMode()
	p := testPayload()
	payload, err := enc.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	// The Encode stage of a fixed COSE message (the Swedish EU test vector SE/1).
	se := readVector(t, "testdata/dgc-testdata/SE/2DCode/raw/1.json")
	seCOSE, _ := hex.DecodeString(se.COSE)
	hc1, err := f.signer.Encode(seCOSE)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got []byte) {
		t.Helper()
		path := filepath.Join("testdata", "golden", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestGolden -update)", err)
		}
		if !bytes.Equal(want, got) {
			t.Errorf("%s differs from the golden file:\n got %s\nwant %s", name, got, want)
		}
	}
	check("payload.cbor.hex", []byte(hex.EncodeToString(payload)+"\n"))
	check("claims.cbor.hex", []byte(hex.EncodeToString(cwt)+"\n"))
	check("se1-encoded.hc1", []byte(hc1+"\n"))
	// And the golden HC1 decodes to the vector's COSE.
	d := mustDecode(t, hc1)
	if !bytes.Equal(d.COSE, seCOSE) {
		t.Error("encoded SE/1 does not decode to its COSE")
	}
}

func TestCompressionLevels(t *testing.T) {
	f := newFixture(t)
	for _, level := range []int{zlib.NoCompression, zlib.BestSpeed, zlib.BestCompression, zlib.HuffmanOnly} {
		s, err := NewSigner(f.key, f.cert, WithCompressionLevel(level))
		if err != nil {
			t.Fatal(err)
		}
		hc1, err := s.Sign(Claims{Issuer: "SE", IssuedAt: issued, Expiry: expires, Payload: testPayload()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(hc1, trustOf(f.cert), issued); err != nil {
			t.Errorf("level %d: %v", level, err)
		}
	}
	if _, err := NewSigner(f.key, f.cert, WithCompressionLevel(42)); err == nil {
		t.Error("compression level 42 accepted")
	}
}
