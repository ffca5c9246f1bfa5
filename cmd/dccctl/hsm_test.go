package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/signing/pkcs11/softhsm"
)

// ceremony is a SoftHSM2 token, a development CSCA and the variables that point dccctl at them.
type ceremony struct {
	dir  string
	vars map[string]string
}

func newCeremony(t *testing.T) ceremony {
	t.Helper()
	tk := softhsm.NewToken(t, "dcc-sandbox", "4321")
	dir := t.TempDir()
	pin := filepath.Join(dir, "pin")
	if err := os.WriteFile(pin, []byte("4321\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := ceremony{dir: dir, vars: map[string]string{
		"DCC_SANDBOX_PKCS11_MODULE":   tk.Module,
		"DCC_SANDBOX_PKCS11_TOKEN":    tk.Label,
		"DCC_SANDBOX_PKCS11_PIN_FILE": pin,
		"DCC_SANDBOX_PKCS11_KEY":      "dsc-a",
		"DCC_SANDBOX_CSCA_FILE":       filepath.Join(dir, "csca", cscaCertFile),
	}}
	if r := runCLI(t, "", c.vars, "csca", "create", "--out", filepath.Join(dir, "csca")); r.code != 0 {
		t.Fatalf("csca create: %d %s", r.code, r.stderr)
	}
	return c
}

// issue generates a key in the token, has the development CSCA sign its CSR and imports the DSC.
func (c ceremony) issue(t *testing.T, label string) string {
	t.Helper()
	csr, crt := filepath.Join(c.dir, label+".csr"), filepath.Join(c.dir, label+".crt")
	if r := runCLI(t, "", c.vars, "hsm", "keygen", "--env", "sandbox", "--label", label, "--csr", csr, "--cn", "DSC "+label); r.code != 0 {
		t.Fatalf("hsm keygen: %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, "", c.vars, "csca", "sign", "--csca", filepath.Join(c.dir, "csca"), "--csr", csr, "--out", crt); r.code != 0 {
		t.Fatalf("csca sign: %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, "", c.vars, "hsm", "import", "--env", "sandbox", "--label", label, "--cert", crt); r.code != 0 {
		t.Fatalf("hsm import: %d %s", r.code, r.stderr)
	}
	return crt
}

func TestHSMCeremonySignAndRotate(t *testing.T) {
	c := newCeremony(t)
	csr := filepath.Join(c.dir, "a.csr")
	r := runCLI(t, "", c.vars, "hsm", "keygen", "--env", "sandbox", "--label", "dsc-a", "--csr", csr)
	if r.code != 0 {
		t.Fatalf("hsm keygen: %d %s", r.code, r.stderr)
	}
	raw, err := os.ReadFile(csr)
	if err != nil || !strings.Contains(string(raw), "CERTIFICATE REQUEST") {
		t.Fatalf("CSR: %v %q", err, raw)
	}
	// A DSC from another CSCA is refused, and so is a DSC for another key.
	if r := runCLI(t, "", c.vars, "csca", "create", "--out", filepath.Join(c.dir, "other")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	foreign := filepath.Join(c.dir, "foreign.crt")
	if r := runCLI(t, "", c.vars, "csca", "sign", "--csca", filepath.Join(c.dir, "other"), "--csr", csr, "--out", foreign); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r = runCLI(t, "", c.vars, "hsm", "import", "--env", "sandbox", "--label", "dsc-a", "--cert", foreign)
	if r.code != exitFailure || !strings.Contains(r.stderr, "does not chain to the configured CSCA") {
		t.Fatalf("import of a DSC from another CSCA: %d %q", r.code, r.stderr)
	}
	dscA := filepath.Join(c.dir, "a.crt")
	if r := runCLI(t, "", c.vars, "csca", "sign", "--csca", filepath.Join(c.dir, "csca"), "--csr", csr, "--out", dscA); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := runCLI(t, "", c.vars, "hsm", "keygen", "--env", "sandbox", "--label", "dsc-x", "--csr", filepath.Join(c.dir, "x.csr")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r = runCLI(t, "", c.vars, "hsm", "import", "--env", "sandbox", "--label", "dsc-x", "--cert", dscA)
	if r.code != exitFailure || !strings.Contains(r.stderr, "does not match") {
		t.Fatalf("import of another key's DSC: %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, "", c.vars, "hsm", "import", "--env", "sandbox", "--label", "dsc-a", "--cert", dscA); r.code != 0 {
		t.Fatalf("hsm import: %d %s", r.code, r.stderr)
	}

	r = runCLI(t, "", c.vars, "hsm", "check", "--env", "sandbox")
	if r.code != 0 || !strings.Contains(r.stdout, "signing: dsc-a") {
		t.Fatalf("hsm check: %d %s%s", r.code, r.stdout, r.stderr)
	}
	// Signed in the token, verified against the DSC.
	r = runCLI(t, payloadJSON, c.vars, "sign", "--hsm", "sandbox")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "HC1:") {
		t.Fatalf("sign --hsm: %d %s%s", r.code, r.stdout, r.stderr)
	}
	hc1 := strings.TrimSpace(r.stdout)
	if r := runCLI(t, "", c.vars, "verify", "--cert", dscA, hc1); r.code != 0 {
		t.Fatalf("verify: %d %s%s", r.code, r.stdout, r.stderr)
	}

	// Rotation: dsc-b is staged an hour ahead; both are published, dsc-a still signs and cannot
	// be retired.
	c.issue(t, "dsc-b")
	c.vars["DCC_SANDBOX_PKCS11_KEY"] = "dsc-a,dsc-b@" + clock.Add(time.Hour).UTC().Format(time.RFC3339)
	r = runCLI(t, "", c.vars, "hsm", "check", "--env", "sandbox")
	if r.code != 0 || !strings.Contains(r.stdout, "signing: dsc-a") || !strings.Contains(r.stdout, "staged:  DSC dsc-b") ||
		strings.Count(r.stdout, "published:") != 2 {
		t.Fatalf("hsm check with a staged key: %d %s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "", c.vars, "hsm", "retire", "--env", "sandbox", "--label", "dsc-a")
	if r.code != exitFailure || !strings.Contains(r.stderr, "signing key") {
		t.Fatalf("retire of the signing key: %d %q", r.code, r.stderr)
	}
	// After the switch, dsc-a is the previous key: it may be retired, and its DSC stays published.
	c.vars["DCC_SANDBOX_PKCS11_KEY"] = "dsc-a,dsc-b@" + clock.Add(-time.Minute).UTC().Format(time.RFC3339)
	if r := runCLI(t, "", c.vars, "hsm", "retire", "--env", "sandbox", "--label", "dsc-a"); r.code != 0 {
		t.Fatalf("retire: %d %s", r.code, r.stderr)
	}
	r = runCLI(t, "", c.vars, "hsm", "check", "--env", "sandbox")
	if r.code != 0 || !strings.Contains(r.stdout, "signing: DSC dsc-b") || strings.Count(r.stdout, "published:") != 2 {
		t.Fatalf("hsm check after the switch: %d %s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "", c.vars, "hsm", "list", "--env", "sandbox")
	if r.code != 0 {
		t.Fatalf("hsm list: %d %s", r.code, r.stderr)
	}
	for _, want := range []string{"dsc-a  retired  previous", "dsc-b  present  signing", "dsc-x  present  -"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("hsm list lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestHSMWrongPINAndMissingToken(t *testing.T) {
	c := newCeremony(t)
	if err := os.WriteFile(c.vars["DCC_SANDBOX_PKCS11_PIN_FILE"], []byte("0000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", c.vars, "hsm", "list", "--env", "sandbox")
	if r.code != exitFailure || !strings.Contains(r.stderr, "PIN rejected by the token") {
		t.Fatalf("wrong PIN: %d %q", r.code, r.stderr)
	}
	r = runCLI(t, "", c.vars, "hsm", "list", "--env", "sandbox", "--token", "gone")
	if r.code != exitFailure || !strings.Contains(r.stderr, `token "gone" not found`) {
		t.Fatalf("missing token: %d %q", r.code, r.stderr)
	}
	r = runCLI(t, "", c.vars, "hsm", "list", "--env", "staging")
	if r.code != exitFailure || !strings.Contains(r.stderr, "want production or sandbox") {
		t.Fatalf("unknown environment: %d %q", r.code, r.stderr)
	}
}
