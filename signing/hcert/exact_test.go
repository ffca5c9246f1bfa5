package hcert

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/keys"
)

// signRaw signs a hand-built CWT claims set, as foreign encoders write them.
func signRaw(t *testing.T, f fixture, claims map[int]any) string {
	t.Helper()
	b, err := cbor.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := f.signer.SignCWT(b)
	if err != nil {
		t.Fatal(err)
	}
	hc1, err := f.signer.Encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	return hc1
}

func rawVaccination(dn, sd any) map[string]any {
	return map[string]any{"ver": "1.3.0", "nam": map[string]any{"fnt": "NILSSON"}, "dob": "1990-01-01",
		"v": []any{map[string]any{"tg": "840539006", "vp": "J07BX03", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
			"dn": dn, "sd": sd, "dt": "2021-06-01", "co": "SE", "is": "Swedish eHealth Agency", "ci": "URN:UVCI:01:SE:EHM/V1"}}}
}

func rawTest(sc any) map[string]any {
	return map[string]any{"ver": "1.3.0", "nam": map[string]any{"fnt": "NILSSON"}, "dob": "1990-01-01",
		"t": []any{map[string]any{"tg": "840539006", "tt": "LP6464-4", "sc": sc, "tr": "260415000",
			"co": "SE", "is": "Swedish eHealth Agency", "ci": "URN:UVCI:01:SE:EHM/T1"}}}
}

func claimsWith(p any) map[int]any {
	return map[int]any{1: "SE", 6: issued.Unix(), 4: expires.Unix(), -260: map[int]any{1: p}}
}

// Integers that foreign encoders wrote as floats are read where the schema's integer accepts
// them (1.0), and refused where it does not (1.5).
func TestDecodeFloatIntegers(t *testing.T) {
	f := newFixture(t)
	half := cbor.RawMessage{0xf9, 0x3c, 0x00} // 1.0 as a half-precision float
	for _, tc := range []struct {
		name   string
		dn, sd any
		want   [2]int
		bad    bool
	}{
		{"integers", 1, 2, [2]int{1, 2}, false},
		{"float64", 1.0, 2.0, [2]int{1, 2}, false},
		{"float32", float32(2), float32(2), [2]int{2, 2}, false},
		{"float16", half, half, [2]int{1, 1}, false},
		{"fraction", 1.5, 2, [2]int{}, true},
		{"text", "1", 2, [2]int{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc1 := signRaw(t, f, claimsWith(rawVaccination(tc.dn, tc.sd)))
			d, err := Verify(hc1, trustOf(f.cert), issued)
			if tc.bad {
				if !errors.Is(err, ErrPayload) {
					t.Fatalf("want ErrPayload, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v := d.Claims.Payload.Vaccination[0]
			if got := [2]int{v.DoseNumber, v.TotalDoses}; got != tc.want {
				t.Errorf("dn, sd = %v, want %v", got, tc.want)
			}
		})
	}
}

// The sample time reads as encoded, fractional seconds and offset included, whether the
// encoder wrote text or a tag-0 date-time.
func TestDecodeSampleTimeExact(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		sc   any
		want string
	}{
		{"text with milliseconds", "2021-06-07T17:24:36.798Z", "2021-06-07T17:24:36.798Z"},
		{"tag 0 with milliseconds", cbor.Tag{Number: 0, Content: "2021-06-07T17:24:36.798Z"}, "2021-06-07T17:24:36.798Z"},
		{"text with offset", "2021-06-07T19:24:36.790+02:00", "2021-06-07T19:24:36.790+02:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mustDecode(t, signRaw(t, f, claimsWith(rawTest(tc.sc))))
			if got := d.Claims.Payload.Test[0].SampleCollected; got != tc.want {
				t.Errorf("typed sc %q, want %q", got, tc.want)
			}
			js, err := d.PayloadJSON()
			if err != nil {
				t.Fatal(err)
			}
			var p struct {
				T []struct {
					SC string `json:"sc"`
				} `json:"t"`
			}
			if err := json.Unmarshal(js, &p); err != nil {
				t.Fatal(err)
			}
			if p.T[0].SC != tc.want {
				t.Errorf("PayloadJSON sc %q, want %q", p.T[0].SC, tc.want)
			}
		})
	}
}

// A float dose number prints as its number in PayloadJSON.
func TestPayloadJSONNumbers(t *testing.T) {
	f := newFixture(t)
	d := mustDecode(t, signRaw(t, f, claimsWith(rawVaccination(1.0, 2))))
	js, err := d.PayloadJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"dn":1,`) || !strings.Contains(string(js), `"sd":2,`) {
		t.Errorf("numbers not as encoded: %s", js)
	}
}

// A hostile exp far beyond any calendar keeps its number, gets no date and fails the time
// check; a float NumericDate keeps its fraction.
func TestNumericDateRange(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name    string
		exp     any
		number  string
		inRange bool
	}{
		{"integer", expires.Unix(), "1772616600", true},
		{"float", float64(expires.Unix()) + 0.25, "1772616600.25", true},
		{"max int64", int64(1<<63 - 1), "9223372036854775807", false},
		{"huge uint64", uint64(1<<64 - 1), "18446744073709551615", false},
		{"year 10000", int64(253402300800), "253402300800", false},
		{"float beyond", 1e300, "1e+300", false},
		{"negative beyond", int64(-1 << 62), "-4611686018427387904", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := claimsWith(rawVaccination(1, 2))
			claims[4] = tc.exp
			d := mustDecode(t, signRaw(t, f, claims))
			if d.ExpiryClaim == nil || string(d.ExpiryClaim.Number) != tc.number {
				t.Fatalf("exp claim %+v, want number %s", d.ExpiryClaim, tc.number)
			}
			if d.ExpiryClaim.InRange() != tc.inRange {
				t.Fatalf("in range %v, want %v", d.ExpiryClaim.InRange(), tc.inRange)
			}
			err := d.CheckTime(issued)
			if tc.inRange {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !d.Claims.Expiry.IsZero() {
				t.Errorf("out-of-range exp became %v", d.Claims.Expiry)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("CheckTime: %v, want ErrMalformed", err)
			}
		})
	}
}

// A DSC whose extended key usages name only tests signs only tests, and a certificate of
// another kind signed by it (by a signer that ignored the rule) fails verification.
func TestKeyUsageInSignAndVerify(t *testing.T) {
	key, err := keys.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := keys.SelfSigned(key, keys.Options{Now: issued.Add(-time.Hour), Kinds: []dcc.Kind{dcc.KindTest}})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys.Kinds(cert); !reflect.DeepEqual(got, []dcc.Kind{dcc.KindTest}) {
		t.Fatalf("kinds %v", got)
	}
	s, err := NewSigner(key, cert)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Allows(dcc.KindTest) || s.Allows(dcc.KindVaccination) || s.Allows(dcc.KindRecovery) {
		t.Fatal("Allows does not follow the extended key usages")
	}
	if _, err := s.Sign(Claims{Issuer: "SE", IssuedAt: issued, Expiry: expires, Payload: testTestPayload()}); err != nil {
		t.Fatalf("test refused: %v", err)
	}
	_, err = s.Sign(Claims{Issuer: "SE", IssuedAt: issued, Expiry: expires, Payload: testPayload()})
	if !errors.Is(err, ErrKeyUsage) {
		t.Fatalf("vaccination signed by a test-only DSC: %v", err)
	}
	// Verify refuses what a careless signer made: the raw CWT, signed past the check.
	hc1 := signRaw(t, fixture{key: key, cert: cert, signer: s}, claimsWith(rawVaccination(1, 2)))
	if _, err := Verify(hc1, trustOf(cert), issued); !errors.Is(err, ErrKeyUsage) {
		t.Fatalf("Verify of a vaccination by a test-only DSC: %v", err)
	}
}

// A detached document signature verifies against the signer's DSC for exactly that content.
func TestSignDetached(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	doc := []byte(`{"certificates":[]}`)
	sig, err := f.signer.SignDetached(doc)
	if err != nil {
		t.Fatal(err)
	}
	dsc, err := VerifyDetached(sig, doc, trustOf(f.cert))
	if err != nil || !dsc.Equal(f.cert) {
		t.Fatalf("VerifyDetached: %v", err)
	}
	if _, err := VerifyDetached(sig, append(doc, ' '), trustOf(f.cert)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("changed content: %v", err)
	}
	if _, err := VerifyDetached(sig, doc, trustOf(other.cert)); !errors.Is(err, ErrUnknownKID) {
		t.Errorf("untrusted signer: %v", err)
	}
	msg, _ := f.signer.SignCWT([]byte{0xa0})
	if _, err := VerifyDetached(msg, doc, trustOf(f.cert)); !errors.Is(err, ErrMalformed) {
		t.Errorf("attached payload: %v", err)
	}
}
