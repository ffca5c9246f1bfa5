package setup

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writePair(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLSConfig(t *testing.T) {
	if c, err := TLSConfig(Defaults()); c != nil || err != nil {
		t.Errorf("no TLS files: %v %v, want plain HTTP", c, err)
	}
	certFile, keyFile := writePair(t, t.TempDir())
	c, err := FromEnv(env(map[string]string{"DCC_TLS_CERT_FILE": certFile, "DCC_TLS_KEY_FILE": keyFile}))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := TLSConfig(c)
	if err != nil || tc == nil || len(tc.Certificates) != 1 || tc.ClientAuth != tls.NoClientCert {
		t.Fatalf("server TLS: %+v %v", tc, err)
	}
	c, err = FromEnv(env(map[string]string{"DCC_TLS_CERT_FILE": certFile, "DCC_TLS_KEY_FILE": keyFile,
		"DCC_TLS_CLIENT_CA_FILE": certFile}))
	if err != nil {
		t.Fatal(err)
	}
	if tc, err = TLSConfig(c); err != nil || tc.ClientAuth != tls.VerifyClientCertIfGiven || tc.ClientCAs == nil {
		t.Errorf("client CAs: %+v %v, want certificates verified when given", tc, err)
	}
	c.TLSClientCertRequired = true
	if tc, err = TLSConfig(c); err != nil || tc.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Errorf("required: %v %v", tc.ClientAuth, err)
	}
	c.TLSClientCAFile = keyFile
	if _, err := TLSConfig(c); err == nil || !strings.Contains(err.Error(), "DCC_TLS_CLIENT_CA_FILE") {
		t.Errorf("a CA file without a certificate: %v", err)
	}
}

func TestTLSSettingsBelongTogether(t *testing.T) {
	_, err := FromEnv(env(map[string]string{"DCC_TLS_KEY_FILE": "key.pem", "DCC_TLS_CLIENT_CERT_REQUIRED": "maybe"}))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"DCC_TLS_CERT_FILE and DCC_TLS_KEY_FILE", "DCC_TLS_CLIENT_CERT_REQUIRED"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	if _, err := FromEnv(env(map[string]string{"DCC_TLS_CLIENT_CA_FILE": "ca.pem"})); err == nil || !strings.Contains(err.Error(), "DCC_TLS_CLIENT_CA_FILE") {
		t.Errorf("client CAs without TLS: %v", err)
	}
}
