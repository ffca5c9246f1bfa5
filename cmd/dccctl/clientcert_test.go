package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// writeClientCert writes a self-signed TLS client certificate (PEM) valid around the test clock.
func writeClientCert(t *testing.T, cn string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: clock.Add(-time.Hour), NotAfter: clock.Add(365 * 24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "client.pem")
	if err := os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return name, hex.EncodeToString(sum[:])
}

func TestProviderClientCertificates(t *testing.T) {
	vars := map[string]string{"DCC_DATA_DIR": t.TempDir()}
	first, fp1 := writeClientCert(t, "Lab One")
	second, fp2 := writeClientCert(t, "Lab One, second")

	r := runCLI(t, "", vars, "provider", "add", "--name", "Lab One", "--env", "sandbox", "--kinds", "test", "--client-cert", first)
	if r.code != 0 || !strings.Contains(r.stdout, "sha256:"+fp1) {
		t.Fatalf("provider add --client-cert: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	id := regexp.MustCompile(`provider (p_[a-z0-9]+)`).FindStringSubmatch(r.stdout)
	if id == nil {
		t.Fatalf("no provider id in %q", r.stdout)
	}
	if r := runCLI(t, "", vars, "provider", "bind-cert", "--provider", id[1], "--client-cert", second); r.code != 0 {
		t.Fatalf("bind-cert: %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, "", vars, "provider", "bind-cert", "--provider", id[1], "--client-cert", second); r.code == 0 {
		t.Error("binding a bound certificate again succeeded")
	}
	r = runCLI(t, "", vars, "provider", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "sha256:"+fp1) || !strings.Contains(r.stdout, "sha256:"+fp2) {
		t.Fatalf("provider list does not show both certificates: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "", vars, "provider", "unbind-cert", "--fingerprint", "sha256:"+fp1); r.code != 0 {
		t.Fatalf("unbind-cert: %d %s", r.code, r.stderr)
	}
	r = runCLI(t, "", vars, "provider", "list")
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Contains(line, fp1) && strings.HasSuffix(strings.TrimSpace(line), "-") {
			t.Errorf("unbound certificate listed without a revocation time: %s", line)
		}
	}
	if r := runCLI(t, "", vars, "provider", "unbind-cert", "--fingerprint", "xyz"); r.code != exitUsage {
		t.Errorf("unbind-cert with a bad fingerprint: %d", r.code)
	}
	if r := runCLI(t, "", vars, "provider", "bind-cert", "--provider", id[1], "--client-cert", filepath.Join(t.TempDir(), "none.pem")); r.code != exitUsage {
		t.Errorf("bind-cert with a missing file: %d", r.code)
	}
}
