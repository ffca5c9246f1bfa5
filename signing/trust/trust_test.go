package trust

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/keys"
)

func newCert(t *testing.T) ([]byte, *List) {
	t.Helper()
	key, err := keys.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := keys.SelfSigned(key, keys.Options{Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	l := New("development", cert)
	return keys.KID(cert), l
}

func TestJSONRoundTrip(t *testing.T) {
	kid, l := newCert(t)
	_, other := newCert(t)
	for _, e := range other.Entries() {
		l.Add(e.X509(), "production")
	}
	l.Add(l.Entries()[0].X509(), "development") // duplicate: ignored
	if l.Len() != 2 {
		t.Fatalf("Len = %d, want 2", l.Len())
	}
	doc, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var shape struct {
		Certificates []map[string]any `json:"certificates"`
	}
	if err := json.Unmarshal(doc, &shape); err != nil || len(shape.Certificates) != 2 {
		t.Fatalf("document %s: %v", doc, err)
	}
	for _, field := range []string{"kid", "country", "certificateType", "thumbprint", "rawData", "validFrom", "validTo", "kinds", "environment"} {
		if _, ok := shape.Certificates[0][field]; !ok {
			t.Errorf("entry lacks %q: %s", field, doc)
		}
	}
	back, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	got := back.Lookup(kid)
	if len(got) != 1 || !got[0].Equal(l.Lookup(kid)[0]) {
		t.Fatalf("Lookup after round trip: %v", got)
	}
	if e := back.Entries()[0]; e.Country != "SE" || e.Environment != "development" {
		t.Errorf("entry %+v", e)
	}
	if len(back.Lookup([]byte("unknown!"))) != 0 {
		t.Error("unknown kid found")
	}
}

func TestParseErrors(t *testing.T) {
	for _, doc := range []string{`{`, `{"certificates":[{"certificate":"AAAA"}]}`, `[1]`, `[{"rawData":"AAAA"}]`} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("Parse(%s) succeeded", doc)
		}
	}
	empty, err := json.Marshal(&List{})
	if err != nil || !bytes.Equal(empty, []byte(`{"certificates":[]}`)) {
		t.Errorf("empty list = %s, %v", empty, err)
	}
}

func TestLoadFileURLAndPEM(t *testing.T) {
	kid, l := newCert(t)
	doc, _ := json.Marshal(l)
	dir := t.TempDir()
	path := filepath.Join(dir, "trust.json")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	pemPath := filepath.Join(dir, "dsc.crt")
	if err := os.WriteFile(pemPath, keys.EncodeCertificate(l.Entries()[0].X509()), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/trust-list" {
			http.NotFound(w, r)
			return
		}
		w.Write(doc)
	}))
	defer srv.Close()
	for _, src := range []string{path, pemPath, srv.URL + "/api/v1/trust-list"} {
		got, err := Load(context.Background(), srv.Client(), src)
		if err != nil {
			t.Errorf("Load(%s): %v", src, err)
			continue
		}
		if len(got.Lookup(kid)) != 1 {
			t.Errorf("Load(%s): kid not found", src)
		}
	}
	if _, err := Load(context.Background(), srv.Client(), srv.URL+"/missing"); err == nil {
		t.Error("Load of a 404 succeeded")
	}
	if _, err := Load(context.Background(), nil, filepath.Join(dir, "absent.json")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

// A DCC gateway trust list (a bare array, rawData) and the earlier "certificate" name both read;
// kinds come from the certificate's extended key usages, the status from the document.
func TestGatewayFormKindsStatus(t *testing.T) {
	key, err := keys.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := keys.SelfSigned(key, keys.Options{Kinds: []dcc.Kind{dcc.KindTest, dcc.KindRecovery}})
	if err != nil {
		t.Fatal(err)
	}
	l := &List{}
	l.AddStatus(cert, "production", StatusRetired)
	e := l.Entries()[0]
	sum := sha256.Sum256(cert.Raw)
	if !reflect.DeepEqual(e.Kinds, []string{"test", "recovery"}) || e.Status != StatusRetired ||
		e.CertificateType != "DSC" || e.Thumbprint != hex.EncodeToString(sum[:]) {
		t.Fatalf("entry %+v", e)
	}
	b64 := base64.StdEncoding.EncodeToString(cert.Raw)
	for _, doc := range []string{
		`[{"kid":"","country":"SE","certificateType":"DSC","rawData":"` + b64 + `"}]`,
		`{"certificates":[{"certificate":"` + b64 + `","status":"current"}]}`,
	} {
		back, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if len(back.Lookup(keys.KID(cert))) != 1 || !reflect.DeepEqual(back.Entries()[0].Kinds, []string{"test", "recovery"}) {
			t.Errorf("%s read as %+v", doc, back.Entries())
		}
	}
}
