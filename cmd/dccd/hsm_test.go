package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/cmd/internal/setup"
	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/pkcs11"
	"github.com/sedcc/dcc/signing/pkcs11/softhsm"
	"github.com/sedcc/dcc/signing/trust"
)

// hsmFixture is a SoftHSM2 token holding a CSCA-signed DSC per environment, and the
// configuration that signs with them.
type hsmFixture struct {
	token softhsm.Token
	cfg   setup.Config
	dscs  map[issuer.Environment]*x509.Certificate
}

func newHSMFixture(t *testing.T) hsmFixture {
	t.Helper()
	tk := softhsm.NewToken(t, "dcc-signing", "246810")
	dir := t.TempDir()
	now := time.Now()
	cscaKey, err := keys.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csca, err := keys.NewCSCA(cscaKey, keys.CSCAOptions{Now: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	cscaFile := filepath.Join(dir, "csca.crt")
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(cscaFile, keys.EncodeCertificate(csca), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pinFile, []byte(tk.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := pkcs11.Open(pkcs11.Config{Module: tk.Module, Token: tk.Label, PIN: tk.PIN})
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	f := hsmFixture{token: tk, cfg: setup.Defaults(), dscs: map[issuer.Environment]*x509.Certificate{}}
	f.cfg.DataDir = t.TempDir()
	f.cfg.Listen = "127.0.0.1:0"
	f.cfg.StatusInterval = time.Hour
	ctx := context.Background()
	for _, env := range []issuer.Environment{issuer.Sandbox, issuer.Production} {
		label := string(env) + "-2026"
		key, err := tok.Generate(ctx, label)
		if err != nil {
			t.Fatal(err)
		}
		csrPEM, err := keys.CSR(key, keys.Options{CommonName: "DSC " + label})
		if err != nil {
			t.Fatal(err)
		}
		csr, err := keys.ParseCSR(csrPEM)
		if err != nil {
			t.Fatal(err)
		}
		dsc, err := keys.IssueDSC(cscaKey, csca, csr, now.Add(-time.Hour), 365*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := tok.ImportCertificate(ctx, label, dsc); err != nil {
			t.Fatal(err)
		}
		h := setup.HSM{Module: tk.Module, Token: tk.Label, PINFile: pinFile, Keys: []setup.KeyStage{{Label: label}}, CSCAFile: cscaFile}
		if env == issuer.Sandbox {
			f.cfg.SandboxHSM = h
		} else {
			f.cfg.ProductionHSM = h
		}
		f.dscs[env] = dsc
	}
	return f
}

// serveInProcess runs dccd's serve with cfg until the test ends and returns its URL and a
// sandbox provider key.
func serveInProcess(t *testing.T, cfg setup.Config) (string, string) {
	t.Helper()
	ctx := context.Background()
	st, err := setup.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := issuer.NewCredentials(st, time.Now, time.Minute).Add(ctx, issuer.NewPrincipal{Name: "HSM Clinic",
		Role: issuer.RoleProvider, Environment: issuer.Sandbox, Kinds: []issuer.Kind{issuer.KindTest}})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	sctx, stop := context.WithCancel(ctx)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(sctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case addr := <-ready:
		return "http://" + addr, key
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("dccd did not start")
	}
	return "", ""
}

// TestHSMSigningOutageAndRecovery: dccd signs in a PKCS#11 token; the token removed, issuance
// answers 503 signing-unavailable; put back, issuance resumes without a restart.
func TestHSMSigningOutageAndRecovery(t *testing.T) {
	f := newHSMFixture(t)
	url, key := serveInProcess(t, f.cfg)
	tl := trust.New("", f.dscs[issuer.Sandbox])
	issue := func(id string) (int, map[string]any, http.Header) {
		body := fhirtest.Observation(fhirtest.RAT, fhirtest.Set("identifier[0].value", id))
		req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/observation", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/fhir+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, m := decodeBody(t, resp)
		return resp.StatusCode, m, resp.Header
	}
	status, m, _ := issue("HSM-1")
	if status != http.StatusOK {
		t.Fatalf("issue through the token: %d %v", status, m)
	}
	_, hc1 := hc1Of(t, m)
	if _, err := hcert.Verify(hc1, tl, time.Now()); err != nil {
		t.Fatalf("a certificate signed in the token does not verify against its DSC: %v", err)
	}

	// The token goes away.
	away := f.token.Dir + ".away"
	if err := os.Rename(f.token.Dir, away); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(f.token.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := f.token.Reset(); err != nil {
		t.Fatal(err)
	}
	status, m, hdr := issue("HSM-2")
	if status != http.StatusServiceUnavailable || !strings.Contains(codesOf(m), "signing-unavailable") || hdr.Get("Retry-After") == "" {
		t.Fatalf("issue with the token removed: %d %v (Retry-After %q), want 503 signing-unavailable", status, m, hdr.Get("Retry-After"))
	}

	if code, body := readyz(t, url); code != http.StatusServiceUnavailable || !strings.Contains(body, `"sandbox":"down"`) {
		t.Errorf("/readyz with the token removed: %d %s", code, body)
	}

	// It comes back: after the retry interval the same service signs again.
	if err := os.Remove(f.token.Dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(away, f.token.Dir); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, m, _ = issue("HSM-2")
		if status == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if status != http.StatusOK {
		t.Fatalf("issue after the token came back: %d %v", status, m)
	}
	_, hc1 = hc1Of(t, m)
	if _, err := hcert.Verify(hc1, tl, time.Now()); err != nil {
		t.Fatalf("verify after recovery: %v", err)
	}
	if code, body := readyz(t, url); code != http.StatusOK {
		t.Errorf("/readyz after recovery: %d %s", code, body)
	}
}

func readyz(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// TestHSMStartRefused: a wrong PIN or a DSC that does not chain to the CSCA stops the start with
// a message that says so.
func TestHSMStartRefused(t *testing.T) {
	f := newHSMFixture(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	wrongPIN := f.cfg
	pin := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pin, []byte("000000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrongPIN.SandboxHSM.PINFile, wrongPIN.ProductionHSM.PINFile = pin, pin
	if err := serve(ctx, wrongPIN, log, nil); err == nil || !strings.Contains(err.Error(), "PIN rejected by the token") {
		t.Errorf("start with a wrong PIN: %v", err)
	}

	otherCSCA := f.cfg
	k, _ := keys.NewKey()
	c, err := keys.NewCSCA(k, keys.CSCAOptions{CommonName: "Another CSCA"})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "csca.crt")
	if err := os.WriteFile(file, keys.EncodeCertificate(c), 0o644); err != nil {
		t.Fatal(err)
	}
	otherCSCA.SandboxHSM.CSCAFile = file
	if err := serve(ctx, otherCSCA, log, nil); err == nil || !strings.Contains(err.Error(), "does not chain to the configured CSCA") {
		t.Errorf("start with a DSC of another CSCA: %v", err)
	}

	noKey := f.cfg
	noKey.SandboxHSM.Keys = []setup.KeyStage{{Label: "missing"}}
	if err := serve(ctx, noKey, log, nil); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("start with an unknown key label: %v", err)
	}
}

func decodeBody(t *testing.T, resp *http.Response) ([]byte, map[string]any) {
	t.Helper()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	return raw, m
}

// codesOf joins the problem codes of an OperationOutcome.
func codesOf(m map[string]any) string {
	var codes []string
	issues, _ := m["issue"].([]any)
	for _, i := range issues {
		det, _ := i.(map[string]any)["details"].(map[string]any)
		coding, _ := det["coding"].([]any)
		for _, c := range coding {
			if code, ok := c.(map[string]any)["code"].(string); ok {
				codes = append(codes, code)
			}
		}
	}
	return strings.Join(codes, ",")
}
