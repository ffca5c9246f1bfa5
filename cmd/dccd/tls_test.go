package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sedcc/dcc/cmd/internal/setup"
	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer"
)

type pemCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func makeCert(t *testing.T, tmpl *x509.Certificate, parent *pemCert) *pemCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &pemCert{cert: cert, key: key, der: der}
}

func (c *pemCert) write(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	kder, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// dccd configured with DCC_TLS_* serves HTTPS, and a provider whose client certificate is bound
// issues without an API key.
func TestServesTLSWithClientCertificates(t *testing.T) {
	data, pki := t.TempDir(), t.TempDir()
	server := makeCert(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dccd"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, nil)
	ca := makeCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Provider CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil)
	client := makeCert(t, &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "Testkliniken AB"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca)
	serverCert, serverKey := server.write(t, pki, "server")
	caFile, _ := ca.write(t, pki, "ca")

	vars := map[string]string{"DCC_DATA_DIR": data, "DCC_LISTEN": "127.0.0.1:0",
		"DCC_TLS_CERT_FILE": serverCert, "DCC_TLS_KEY_FILE": serverKey, "DCC_TLS_CLIENT_CA_FILE": caFile}
	cfg, err := setup.FromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := setup.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	creds := issuer.NewCredentials(st, time.Now, 0)
	p, _, err := creds.Add(ctx, issuer.NewPrincipal{Name: "Testkliniken AB", Role: issuer.RoleProvider,
		Environment: issuer.Sandbox, Kinds: []issuer.Kind{issuer.KindTest}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := creds.BindCert(ctx, p.ID, client.cert); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	sctx, cancel := context.WithCancel(ctx)
	ready, errc := make(chan string, 1), make(chan error, 1)
	go func() { errc <- serve(sctx, cfg, slog.New(slog.DiscardHandler), ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-errc:
		t.Fatalf("start: %v", err)
	}
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}()

	roots := x509.NewCertPool()
	roots.AddCert(server.cert)
	tlsClient := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs, MinVersion: tls.VersionTLS12}}}
	}
	post := func(c *http.Client) (int, string) {
		t.Helper()
		resp, err := c.Post("https://"+addr+"/observation", "application/fhir+json",
			bytes.NewReader(fhirtest.Observation(fhirtest.RAT, fhirtest.Now(time.Now()))))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(tlsClient(tls.Certificate{Certificate: [][]byte{client.der}, PrivateKey: client.key})); code != http.StatusOK {
		t.Fatalf("bound client certificate: %d %s", code, body)
	}
	if code, _ := post(tlsClient()); code != http.StatusUnauthorized {
		t.Errorf("no certificate, no key: %d, want 401", code)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered on the TLS listener")
		}
	}
}
