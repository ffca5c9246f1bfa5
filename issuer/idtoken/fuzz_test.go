package idtoken_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sedcc/dcc/issuer/idp"
)

// FuzzVerify: no input makes the verifier panic or accept a token the provider did not sign
// for this audience; every refusal names its reason.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	good, err := fx.idp.Mint(idp.Token{PNR: tolvan})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add(good[:len(good)-5])
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := fx.v.Verify(context.Background(), raw)
		if err == nil {
			if raw != good || c.PNR.Digits() != tolvan {
				t.Fatalf("accepted %q", raw)
			}
			return
		}
		if reason(err) == "not an idtoken.Error" {
			t.Fatalf("refusal without a reason: %v", err)
		}
	})
}
