package interop

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sedcc/dcc/signing/pkcs11/softhsm"
)

// runEnv runs a command with extra environment variables.
func runEnv(t *testing.T, e env, vars []string, stdin []byte, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = e.root
	cmd.Env = append(os.Environ(), vars...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	code := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("running %s %s: %v", name, strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// TestNodeVerifierAcceptsHSMSigned runs the key ceremony with dccctl against a SoftHSM2 token
// (key pair generated in the token, CSR, DSC from a development CSCA, import), signs each
// fixture in the token, and has the independent Node.js verifier check the result against the
// CSCA-issued DSC.
func TestNodeVerifierAcceptsHSMSigned(t *testing.T) {
	e := setup(t)
	bin := dccctl(t, e)
	tk := softhsm.NewToken(t, "dcc-interop", "1357")
	dir := t.TempDir()
	pin := filepath.Join(dir, "pin")
	if err := os.WriteFile(pin, []byte(tk.PIN), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := []string{
		"DCC_PRODUCTION_PKCS11_MODULE=" + tk.Module,
		"DCC_PRODUCTION_PKCS11_TOKEN=" + tk.Label,
		"DCC_PRODUCTION_PKCS11_PIN_FILE=" + pin,
		"DCC_PRODUCTION_PKCS11_KEY=dsc-prod",
		"DCC_PRODUCTION_CSCA_FILE=" + filepath.Join(dir, "csca", "csca.crt"),
	}
	csr, dsc := filepath.Join(dir, "dsc.csr"), filepath.Join(dir, "dsc.crt")
	for _, args := range [][]string{
		{"csca", "create", "--out", filepath.Join(dir, "csca")},
		{"hsm", "keygen", "--env", "production", "--label", "dsc-prod", "--csr", csr, "--cn", "DCC production DSC"},
		{"csca", "sign", "--csca", filepath.Join(dir, "csca"), "--csr", csr, "--out", dsc},
		{"hsm", "import", "--env", "production", "--label", "dsc-prod", "--cert", dsc},
		{"hsm", "check", "--env", "production"},
	} {
		if r := runEnv(t, e, vars, nil, bin, args...); r.code != 0 {
			t.Fatalf("dccctl %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	for _, name := range fixtures {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			payload, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			r := runEnv(t, e, vars, payload, bin, "sign", "--hsm", "production")
			if r.code != 0 {
				t.Fatalf("dccctl sign --hsm: exit %d\n%s", r.code, r.stderr)
			}
			hc1 := strings.TrimSpace(r.stdout)
			r = jsverify(t, e, dsc, hc1)
			if r.code != 0 {
				t.Fatalf("node verifier refused a certificate signed in the token: exit %d: %s\nHC1: %s", r.code, strings.TrimSpace(r.stderr), hc1)
			}
			if !sameJSON(t, []byte(r.stdout), payload) {
				t.Errorf("node verifier printed a different payload\n got: %s\nwant: %s", strings.TrimSpace(r.stdout), payload)
			}
		})
	}
	// The same certificate is refused under a DSC of another key: the acceptance above is about
	// the token's key.
	kp := keygen(t, e, bin)
	payload, err := os.ReadFile(filepath.Join("testdata", fixtures[0]))
	if err != nil {
		t.Fatal(err)
	}
	r := runEnv(t, e, vars, payload, bin, "sign", "--hsm", "production")
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := jsverify(t, e, kp.cert, strings.TrimSpace(r.stdout)); r.code == 0 {
		t.Error("node verifier accepted a token-signed certificate under another DSC")
	}
}
