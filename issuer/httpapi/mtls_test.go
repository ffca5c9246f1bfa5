package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer"
)

// testCA is a certificate authority the test makes, issuing TLS client certificates.
type testCA struct {
	t    *testing.T
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{t: t, cert: cert, key: key}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue makes a client certificate for cn, valid from notBefore to notAfter, with the given
// extended key usage.
func (ca *testCA) issue(cn string, notBefore, notAfter time.Time, usage ...x509.ExtKeyUsage) (tls.Certificate, *x509.Certificate) {
	ca.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: []string{cn}},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		ca.t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, cert
}

func (ca *testCA) client(cn string) (tls.Certificate, *x509.Certificate) {
	return ca.issue(cn, time.Now().Add(-time.Hour), time.Now().Add(12*time.Hour), x509.ExtKeyUsageClientAuth)
}

// tlsClient is a client trusting the test server that presents cert (none when cert is nil).
func tlsClient(e *testEnv, cert *tls.Certificate) *http.Client {
	c := e.server.Client()
	tr := c.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func postWith(t *testing.T, c *http.Client, url, key string, body []byte) (answer, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func principalID(t *testing.T, e *testEnv, name string) string {
	t.Helper()
	p, err := e.store.PrincipalByName(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// A TLS client certificate the handshake verified and an administrator bound to a provider
// authenticates that provider without a bearer key; any other certificate does not.
func TestClientCertificateAuthenticates(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			ca, other := newTestCA(t, "Provider CA"), newTestCA(t, "Unknown CA")
			e := newEnv(t, kind, envOptions{tls: &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.pool(), MinVersion: tls.VersionTLS12}})
			bound, boundX := ca.client("Sandbox Clinic")
			unbound, _ := ca.client("Someone Else")
			foreign, _ := other.client("Sandbox Clinic")
			if _, err := e.creds.BindCert(t.Context(), principalID(t, e, "Sandbox Clinic"), boundX); err != nil {
				t.Fatalf("BindCert: %v", err)
			}
			body := func(id string) []byte {
				return fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.Identifier(id))
			}

			withCert := tlsClient(e, &bound)
			for i, path := range []string{"/api/v1/observation", "/observation"} {
				a, err := postWith(t, withCert, e.url+path, "", body("MTLS-"+string(rune('A'+i))))
				if err != nil {
					t.Fatal(err)
				}
				if a.status != http.StatusOK {
					t.Fatalf("%s with the bound certificate and no key: %d %s", path, a.status, a.body)
				}
			}

			// A certificate from the accepted CA that nobody bound, and no certificate at all:
			// 401 with the bearer challenge, as a missing key.
			for name, c := range map[string]*http.Client{"unbound": tlsClient(e, &unbound), "none": tlsClient(e, nil)} {
				a, err := postWith(t, c, e.url+"/api/v1/observation", "", body("MTLS-X"))
				if err != nil {
					t.Fatal(err)
				}
				if a.status != http.StatusUnauthorized || !a.has(t, "unauthenticated") || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s certificate: %d %s %s", name, a.status, a.header.Get("WWW-Authenticate"), a.body)
				}
			}
			// A certificate from a CA not configured, sent anyway, fails the handshake: it never
			// reaches the handler, whatever it is bound to.
			forced := tlsClient(e, nil)
			forced.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return &foreign, nil
			}
			if a, err := postWith(t, forced, e.url+"/api/v1/observation", "", body("MTLS-Y")); err == nil {
				t.Errorf("certificate of an unknown CA: %d, want a failed handshake", a.status)
			}
			// A bearer key sent alongside is what counts: a wrong key is 401 even with a bound
			// certificate, and a valid key works without one.
			if a, _ := postWith(t, withCert, e.url+"/api/v1/observation", "dcc_wrong", body("MTLS-Z")); a.status != http.StatusUnauthorized {
				t.Errorf("bound certificate with a wrong key: %d, want 401", a.status)
			}
			if a, _ := postWith(t, tlsClient(e, nil), e.url+"/api/v1/observation", e.sandbox, body("MTLS-K")); a.status != http.StatusOK {
				t.Errorf("key over TLS without a certificate: %d %s", a.status, a.body)
			}

			// Revoked: refused at once in this server (the binding leaves the cache).
			if err := e.creds.RevokeCert(t.Context(), issuer.CertFingerprint(boundX)); err != nil {
				t.Fatal(err)
			}
			if a, _ := postWith(t, withCert, e.url+"/api/v1/observation", "", body("MTLS-R")); a.status != http.StatusUnauthorized {
				t.Errorf("revoked certificate: %d %s, want 401", a.status, a.body)
			}
		})
	}
}

// With client certificates required, a client without one is refused in the handshake.
func TestClientCertificateRequired(t *testing.T) {
	ca := newTestCA(t, "Provider CA")
	e := newEnv(t, "embedded", envOptions{tls: &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.pool(), MinVersion: tls.VersionTLS12}})
	if a, err := postWith(t, tlsClient(e, nil), e.url+"/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now))); err == nil {
		t.Errorf("no certificate where one is required: %d, want a failed handshake", a.status)
	}
	cert, x := ca.client("Production Clinic")
	if _, err := e.creds.BindCert(t.Context(), principalID(t, e, "Production Clinic"), x); err != nil {
		t.Fatal(err)
	}
	a, err := postWith(t, tlsClient(e, &cert), e.url+"/api/v1/observation", "",
		fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.PNR("198503122387")))
	if err != nil {
		t.Fatal(err)
	}
	// mustIssue checks the certificate was signed for the production provider's environment.
	e.mustIssue(issuer.KindTest, issuer.Production, a)
}

// Binding refuses what could never authenticate: a certificate of a support person, an expired
// certificate, one for server authentication only, and a certificate bound already.
func TestBindCertRefuses(t *testing.T) {
	ca := newTestCA(t, "Provider CA")
	e := newEnv(t, "embedded", envOptions{})
	provider := principalID(t, e, "Sandbox Clinic")
	_, ok := ca.client("ok")
	_, expired := ca.issue("expired", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour), x509.ExtKeyUsageClientAuth)
	_, server := ca.issue("server", time.Now().Add(-time.Hour), time.Now().Add(time.Hour), x509.ExtKeyUsageServerAuth)
	for name, tc := range map[string]struct {
		principal string
		cert      *x509.Certificate
	}{
		"support person": {principalID(t, e, "Support Person"), ok},
		"expired":        {provider, expired},
		"server only":    {provider, server},
		"unknown":        {"p_nobody", ok},
	} {
		if _, err := e.creds.BindCert(t.Context(), tc.principal, tc.cert); err == nil {
			t.Errorf("%s: bound", name)
		}
	}
	if _, err := e.creds.BindCert(t.Context(), provider, ok); err != nil {
		t.Fatal(err)
	}
	if _, err := e.creds.BindCert(t.Context(), principalID(t, e, "Production Clinic"), ok); err == nil {
		t.Error("a certificate bound to one provider was bound to another")
	}
}
