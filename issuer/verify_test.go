package issuer_test

import (
	"context"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/embedded"
	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/trust"
	"github.com/sedcc/dcc/signing/valueset"
)

// vaccinationClaims is a valid vaccination certificate's CWT claims, as a careless signer that
// ignores extended key usages and DSC validity would sign them.
func vaccinationClaims(iat, exp time.Time) map[int]any {
	return map[int]any{1: "SE", 6: iat.Unix(), 4: exp.Unix(), -260: map[int]any{1: map[string]any{
		"ver": "1.3.0", "nam": map[string]any{"fn": "Nilsson", "fnt": "NILSSON"}, "dob": "1958-11-11",
		"v": []any{map[string]any{"tg": "840539006", "vp": "J07BX03", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
			"dn": 1, "sd": 2, "dt": "2021-05-18", "co": "SE", "is": "Swedish eHealth Agency", "ci": "URN:UVCI:01:SE:DCC/V1#X"}},
	}}}
}

func signRaw(t *testing.T, s *hcert.Signer, claims map[int]any) string {
	t.Helper()
	b, err := cbor.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.SignCWT(b)
	if err != nil {
		t.Fatal(err)
	}
	hc1, err := s.Encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	return hc1
}

func findings(v issuer.Verification) map[string]issuer.Finding {
	out := map[string]issuer.Finding{}
	for _, f := range v.Findings {
		out[f.Check] = f
	}
	return out
}

// Each check fails on its own: a vaccination signed by a test-only DSC fails key usage only; one
// signed after its DSC expired fails DSC validity only (the certificate itself is unexpired); a
// certificate of another issuer is verified against an uploaded list and its revocation check
// is left to that issuer.
func TestVerifyFindingsSeparately(t *testing.T) {
	ctx := context.Background()
	st, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

	key, err := keys.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	testOnly, err := keys.SelfSigned(key, keys.Options{Now: now.Add(-24 * time.Hour), Kinds: []dcc.Kind{dcc.KindTest}})
	if err != nil {
		t.Fatal(err)
	}
	testOnlySigner, err := hcert.NewSigner(key, testOnly)
	if err != nil {
		t.Fatal(err)
	}
	short, err := keys.SelfSigned(key, keys.Options{Now: now.Add(-48 * time.Hour), Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	shortSigner, err := hcert.NewSigner(key, short)
	if err != nil {
		t.Fatal(err)
	}
	revs, err := issuer.NewRevocations(issuer.RevocationsOptions{Store: st,
		Signers: map[issuer.Environment]issuer.Signer{issuer.Sandbox: issuer.HCertSigner{Signer: testOnlySigner, Country: "SE"}},
		Values:  valueset.MustLoad(), Clock: func() time.Time { return now }, NewID: func() string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	if err := revs.RecordSigningCertificates(ctx); err != nil {
		t.Fatal(err)
	}

	only := func(v issuer.Verification, failing string, skipped ...string) {
		t.Helper()
		f := findings(v)
		if v.Valid || f[failing].Result != issuer.ResultFail {
			t.Errorf("%s should fail: %+v", failing, v.Findings)
		}
		for check, got := range f {
			want := issuer.ResultPass
			if check == failing {
				want = issuer.ResultFail
			}
			for _, s := range skipped {
				if check == s {
					want = issuer.ResultSkipped
				}
			}
			if got.Result != want {
				t.Errorf("%s: %s (%s), want %s", check, got.Result, got.Detail, want)
			}
		}
	}

	v, err := revs.Verify(ctx, signRaw(t, testOnlySigner, vaccinationClaims(now.Add(-time.Hour), now.Add(time.Hour))), nil, now)
	if err != nil {
		t.Fatal(err)
	}
	only(v, issuer.CheckKeyUsage)
	if f := findings(v)[issuer.CheckKeyUsage]; f.Code != "key-usage" {
		t.Errorf("key usage finding %+v", f)
	}

	uploaded := trust.New("production", short)
	hc1 := signRaw(t, shortSigner, vaccinationClaims(now.Add(-time.Hour), now.Add(time.Hour)))
	v, err = revs.Verify(ctx, hc1, uploaded, now)
	if err != nil {
		t.Fatal(err)
	}
	only(v, issuer.CheckDSCValidity, issuer.CheckRevocation)
	if f := findings(v)[issuer.CheckRevocation]; f.Code != "not-this-issuer" {
		t.Errorf("revocation finding for another issuer's certificate: %+v", f)
	}

	// Signed while the DSC was valid: DSC validity passes even after the DSC expired, and the
	// other issuer's certificate is valid without this service's revocation check.
	hc1 = signRaw(t, shortSigner, vaccinationClaims(now.Add(-36*time.Hour), now.Add(time.Hour)))
	if v, err = revs.Verify(ctx, hc1, uploaded, now); err != nil {
		t.Fatal(err)
	}
	if f := findings(v); !v.Valid || f[issuer.CheckDSCValidity].Result != issuer.ResultPass || f[issuer.CheckRevocation].Code != "not-this-issuer" {
		t.Errorf("signed within the DSC's validity: %+v", v.Findings)
	}
}
