package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sedcc/dcc/signing/dcc"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestGenerateAndLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	key, cert, err := Generate(dir, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := key.(*ecdsa.PrivateKey); !ok {
		t.Fatalf("key type %T", key)
	}
	if cert.Subject.Country[0] != "SE" || !cert.NotBefore.Before(now) || !cert.NotAfter.After(now.Add(365*24*time.Hour)) {
		t.Errorf("unexpected DSC %v %v-%v", cert.Subject, cert.NotBefore, cert.NotAfter)
	}
	if len(cert.UnknownExtKeyUsage) != 3 {
		t.Errorf("DSC EKUs %v", cert.UnknownExtKeyUsage)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	k2, c2, err := Load(filepath.Join(dir, KeyFile), filepath.Join(dir, CertFile))
	if err != nil {
		t.Fatal(err)
	}
	if !c2.Equal(cert) || Match(k2, cert) != nil {
		t.Error("loaded key or certificate differs")
	}
	if _, _, err := Generate(dir, Options{Now: now}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Generate = %v, want fs.ErrExist", err)
	}
	k3, c3, err := LoadOrCreate(dir, Options{})
	if err != nil || !c3.Equal(cert) || Match(k3, cert) != nil {
		t.Errorf("LoadOrCreate on existing files: %v", err)
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	_, c1, err := LoadOrCreate(dir, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	_, c2, err := LoadOrCreate(dir, Options{Now: now})
	if err != nil || !c1.Equal(c2) {
		t.Fatalf("second LoadOrCreate created a new DSC: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, CertFile)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(dir, Options{Now: now}); err == nil {
		t.Error("LoadOrCreate with only a key succeeded")
	}
}

func TestLoadMismatch(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if _, _, err := Generate(a, Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Generate(b, Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(filepath.Join(a, KeyFile), filepath.Join(b, CertFile))
	if !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("Load with foreign certificate = %v", err)
	}
}

func TestParseKeyFormats(t *testing.T) {
	ec, _ := NewKey()
	sec1, _ := x509.MarshalECPrivateKey(ec)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range []*pem.Block{
		{Type: "EC PRIVATE KEY", Bytes: sec1},
		{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)},
	} {
		if _, err := ParseKey(pem.EncodeToMemory(block)); err != nil {
			t.Errorf("%s: %v", block.Type, err)
		}
	}
	if _, err := ParseKey([]byte("not a key")); err == nil {
		t.Error("garbage parsed as key")
	}
}

func TestCSR(t *testing.T) {
	dir := t.TempDir()
	key, csrPEM, err := GenerateCSR(dir, Options{Organization: "E-hälsomyndigheten"})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatal(err)
	}
	var ekus []asn1.ObjectIdentifier
	for _, ext := range csr.Extensions {
		if ext.Id.Equal(oidExtKeyUsage) {
			if _, err := asn1.Unmarshal(ext.Value, &ekus); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(ekus) != 3 || !ekus[1].Equal(OIDVaccination) {
		t.Errorf("CSR EKUs %v", ekus)
	}
	if csr.Subject.Organization[0] != "E-hälsomyndigheten" {
		t.Errorf("CSR subject %v", csr.Subject)
	}
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok || !pub.Equal(csr.PublicKey) {
		t.Error("CSR public key differs from the key")
	}
	if _, err := os.Stat(filepath.Join(dir, CSRFile)); err != nil {
		t.Error(err)
	}
}

func TestKIDAndAllows(t *testing.T) {
	key, _ := NewKey()
	cert, err := SelfSigned(key, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Raw)
	if string(KID(cert)) != string(sum[:8]) {
		t.Error("KID is not the first 8 bytes of SHA-256 over the DER")
	}
	cases := []struct {
		ekus []asn1.ObjectIdentifier
		kind dcc.Kind
		want bool
	}{
		{nil, dcc.KindTest, true},
		{nil, dcc.KindRecovery, true},
		{[]asn1.ObjectIdentifier{OIDTest}, dcc.KindTest, true},
		{[]asn1.ObjectIdentifier{OIDTest}, dcc.KindVaccination, false},
		{[]asn1.ObjectIdentifier{OIDVaccinationAlt}, dcc.KindVaccination, true},
		{[]asn1.ObjectIdentifier{OIDVaccinationAlt}, dcc.KindRecovery, false},
		{[]asn1.ObjectIdentifier{OIDRecovery, OIDTestAlt}, dcc.KindTest, true},
		{[]asn1.ObjectIdentifier{OIDRecovery}, dcc.KindUnknown, false},
		{[]asn1.ObjectIdentifier{{1, 2, 3}}, dcc.KindRecovery, true},
	}
	for _, c := range cases {
		if got := Allows(&x509.Certificate{UnknownExtKeyUsage: c.ekus}, c.kind); got != c.want {
			t.Errorf("Allows(%v, %v) = %v", c.ekus, c.kind, got)
		}
	}
}

func TestDevelopmentCSCAIssuesCheckedDSC(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	cscaKey, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csca, err := NewCSCA(cscaKey, CSCAOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	dscKey, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csrPEM, err := CSR(dscKey, Options{CommonName: "DSC 2026"})
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	dsc, err := IssueDSC(cscaKey, csca, csr, now, 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if dsc.Subject.CommonName != "DSC 2026" || len(dsc.UnknownExtKeyUsage) != 3 {
		t.Errorf("DSC subject %s, extended key usages %v", dsc.Subject, dsc.UnknownExtKeyUsage)
	}
	if err := CheckDSC(dsc, []*x509.Certificate{csca}, dscKey.Public(), now); err != nil {
		t.Fatalf("CheckDSC: %v", err)
	}
	other, _ := NewKey()
	otherCSCA, err := NewCSCA(other, CSCAOptions{Now: now, CommonName: "Another CSCA"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cscas []*x509.Certificate
		pub   crypto.PublicKey
		at    time.Time
		want  error
	}{
		{"another CSCA", []*x509.Certificate{otherCSCA}, dscKey.Public(), now, ErrNotChained},
		{"no CSCA", nil, dscKey.Public(), now, ErrNotChained},
		{"another key", []*x509.Certificate{csca}, other.Public(), now, ErrKeyMismatch},
		{"expired", []*x509.Certificate{csca}, dscKey.Public(), now.Add(366 * 24 * time.Hour), ErrNotChained},
		{"not yet valid", []*x509.Certificate{csca}, dscKey.Public(), now.Add(-time.Hour), ErrNotChained},
	}
	for _, tt := range tests {
		if err := CheckDSC(dsc, tt.cscas, tt.pub, tt.at); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	// A self-signed DSC is no CA: it cannot issue.
	self, err := SelfSigned(dscKey, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := IssueDSC(dscKey, self, csr, now, time.Hour); err == nil {
		t.Error("a DSC issued a DSC")
	}
}
