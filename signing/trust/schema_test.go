package trust

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sedcc/dcc/docs"
	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
)

// The document a List writes validates against docs/trust-list.schema.json.
func TestDocumentMatchesSchema(t *testing.T) {
	sch, err := docs.CompileSchema(docs.TrustListSchema)
	if err != nil {
		t.Fatal(err)
	}
	l := &List{}
	for i, kinds := range [][]dcc.Kind{nil, {dcc.KindTest}} {
		key, err := keys.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		cert, err := keys.SelfSigned(key, keys.Options{Kinds: kinds})
		if err != nil {
			t.Fatal(err)
		}
		l.AddStatus(cert, "production", []string{StatusCurrent, StatusRetired}[i])
	}
	doc, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Errorf("trust list fails its schema: %v\n%s", err, doc)
	}
	// The schema is not vacuous: an entry without rawData fails it.
	if sch.Validate([]byte(`{"certificates":[{"kid":"AAAAAAAAAAA=","country":"SE"}]}`)) == nil {
		t.Error("an incomplete entry passes the schema")
	}
}

// LoadURL checks the integrity headers: a matching digest and a signature by a listed DSC pass;
// a changed body or a signature by an unlisted key fail.
func TestLoadURLIntegrity(t *testing.T) {
	key, err := keys.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := keys.SelfSigned(key, keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := hcert.NewSigner(key, cert)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := keys.NewKey()
	otherCert, _ := keys.SelfSigned(otherKey, keys.Options{})
	other, err := hcert.NewSigner(otherKey, otherCert)
	if err != nil {
		t.Fatal(err)
	}
	l := &List{}
	l.AddStatus(cert, "production", StatusCurrent)
	body, _ := json.Marshal(l)
	sig := func(s *hcert.Signer, b []byte) string {
		raw, err := s.SignDetached(b)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(raw)
	}
	for _, tc := range []struct {
		name           string
		served, digest []byte
		signature      string
		ok             bool
	}{
		{"digest and signature", body, body, sig(signer, body), true},
		{"no headers", body, nil, "", true},
		{"changed body", append(bytes.Clone(body), ' '), body, "", false},
		{"unlisted signer", body, body, sig(other, body), false},
		{"signature over other content", body, body, sig(signer, []byte("{}")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.digest != nil {
					w.Header().Set(DigestHeader, Digest(tc.digest))
				}
				if tc.signature != "" {
					w.Header().Set(SignatureHeader, tc.signature)
				}
				_, _ = w.Write(tc.served)
			}))
			defer srv.Close()
			_, err := LoadURL(context.Background(), srv.Client(), srv.URL)
			if (err == nil) != tc.ok {
				t.Errorf("LoadURL: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// FuzzParse feeds arbitrary documents to Parse: no panic, and a list that parses marshals and
// parses again to the same entries.
func FuzzParse(f *testing.F) {
	key, _ := keys.NewKey()
	cert, _ := keys.SelfSigned(key, keys.Options{})
	l := &List{}
	l.AddStatus(cert, "production", StatusCurrent)
	doc, _ := json.Marshal(l)
	f.Add(doc)
	f.Add([]byte(`[{"rawData":"` + base64.StdEncoding.EncodeToString(cert.Raw) + `"}]`))
	f.Add(keys.EncodeCertificate(cert))
	f.Add([]byte(`{"certificates":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Parse(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(again)
		if err != nil || back.Len() != got.Len() {
			t.Fatalf("round trip: %v, %d vs %d entries", err, back.Len(), got.Len())
		}
	})
}
