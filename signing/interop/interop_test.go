// Package interop checks that certificates signed by this project are
// accepted by an implementation that is not this project: the Node.js
// verifier in signing/testdata/jsverify (cose-js, node-cbor, base45-js and
// node's crypto), which shares no code with the Go signer.
//
// The tests need node and the verifier's node_modules (`make deps`, which
// runs `npm ci --prefix signing/testdata/jsverify`). They fail when either is
// missing; set DCC_SKIP_INTEROP=1 to skip them instead.
package interop

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixtures are EU DCC example payloads, one per kind (see testdata/README.md).
var fixtures = []string{
	"vaccination-simple.json",
	"test-simple-naat.json",
	"recovery-simple.json",
}

// countries whose test vectors the verifier's self-test must cover.
var vectorCountries = []string{"SE", "DK", "FI", "DE", "NL", "IS", "common"}

const cmdTimeout = 2 * time.Minute

// env is what every interop test needs: the repository root, node and the
// verifier script.
type env struct {
	root     string
	node     string
	verifier string
	jsdir    string
}

func setup(t *testing.T) env {
	t.Helper()
	if os.Getenv("DCC_SKIP_INTEROP") == "1" {
		t.Skip("DCC_SKIP_INTEROP=1: interop tests skipped")
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found in PATH (%v): install Node.js (v18 or newer) and run `make deps`, or set DCC_SKIP_INTEROP=1 to skip", err)
	}
	jsdir := filepath.Join(root, "signing", "testdata", "jsverify")
	for _, dep := range []string{"cose-js", "cbor", "base45-js"} {
		if _, err := os.Stat(filepath.Join(jsdir, "node_modules", dep, "package.json")); err != nil {
			t.Fatalf("the Node.js verifier's dependencies are not installed (%s missing): run `make deps` (npm ci --prefix signing/testdata/jsverify), or set DCC_SKIP_INTEROP=1 to skip", filepath.Join("node_modules", dep))
		}
	}
	return env{root: root, node: node, verifier: filepath.Join(jsdir, "verify.js"), jsdir: jsdir}
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (go.mod) not found")
		}
		dir = parent
	}
}

// result of running a command.
type result struct {
	code   int
	stdout string
	stderr string
}

func run(t *testing.T, dir string, stdin []byte, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("running %s %s: %v", name, strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out after %v", name, strings.Join(args, " "), cmdTimeout)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

var (
	buildOnce sync.Once
	dccctlBin string
	buildErr  error
	buildDir  string
)

// dccctl builds ./cmd/dccctl once per test binary.
func dccctl(t *testing.T, e env) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "dccctl-interop-")
		if buildErr != nil {
			return
		}
		// go test puts its own GOROOT/bin first in PATH.
		gobin, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("go tool not found: %w", err)
			return
		}
		dccctlBin = filepath.Join(buildDir, "dccctl")
		cmd := exec.Command(gobin, "build", "-o", dccctlBin, "./cmd/dccctl")
		cmd.Dir = e.root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/dccctl: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return dccctlBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// keypair is a DSC and its private key made by `dccctl keygen`.
type keypair struct {
	key, cert string
}

func keygen(t *testing.T, e env, bin string) keypair {
	t.Helper()
	dir := t.TempDir()
	r := run(t, e.root, nil, bin, "keygen", "--out", dir)
	if r.code != 0 {
		t.Fatalf("dccctl keygen: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var kp keypair
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range entries {
		if ent.IsDir() {
			continue
		}
		p := filepath.Join(dir, ent.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case bytes.Contains(b, []byte("PRIVATE KEY")):
			kp.key = p
		case bytes.Contains(b, []byte("-----BEGIN CERTIFICATE-----")):
			kp.cert = p
		}
	}
	if kp.key == "" || kp.cert == "" {
		t.Fatalf("dccctl keygen --out %s: no PEM private key and certificate found (%v)", dir, entries)
	}
	return kp
}

func sign(t *testing.T, e env, bin string, kp keypair, payload []byte) string {
	t.Helper()
	r := run(t, e.root, payload, bin, "sign", "--key", kp.key, "--cert", kp.cert)
	if r.code != 0 {
		t.Fatalf("dccctl sign: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	hc1 := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(hc1, "HC1:") {
		t.Fatalf("dccctl sign printed %q, want an HC1: string", hc1)
	}
	return hc1
}

// jsverify runs the Node.js verifier.
func jsverify(t *testing.T, e env, cert, hc1 string, extra ...string) result {
	t.Helper()
	args := append([]string{e.verifier, "--cert", cert}, extra...)
	args = append(args, hc1)
	return run(t, e.root, nil, e.node, args...)
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("invalid JSON %q: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("invalid JSON %q: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// TestNodeVerifierAcceptsSigned signs each fixture with dccctl and checks
// that the Node.js verifier accepts it and prints the payload that was sent.
func TestNodeVerifierAcceptsSigned(t *testing.T) {
	e := setup(t)
	bin := dccctl(t, e)
	kp := keygen(t, e, bin)
	for _, name := range fixtures {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			payload, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			hc1 := sign(t, e, bin, kp, payload)

			r := jsverify(t, e, kp.cert, hc1)
			if r.code != 0 {
				t.Fatalf("node verifier refused a certificate signed by dccctl: exit %d: %s\nHC1: %s", r.code, strings.TrimSpace(r.stderr), hc1)
			}
			if !sameJSON(t, []byte(r.stdout), payload) {
				t.Errorf("node verifier printed a different payload\n got: %s\nwant: %s", strings.TrimSpace(r.stdout), payload)
			}

			// The claims around it: ES256, issued by SE, a sane validity.
			r = jsverify(t, e, kp.cert, hc1, "--claims")
			var c struct {
				Iss      string `json:"iss"`
				Iat, Exp int64
				Alg      string `json:"alg"`
			}
			if r.code != 0 {
				t.Fatalf("node verifier --claims: exit %d: %s", r.code, r.stderr)
			}
			if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
				t.Fatalf("node verifier --claims: %v\n%s", err, r.stdout)
			}
			if c.Iss != "SE" || c.Alg != "ES256" || c.Exp <= c.Iat {
				t.Errorf("claims: iss %q alg %q iat %d exp %d; want iss SE, alg ES256, exp after iat", c.Iss, c.Alg, c.Iat, c.Exp)
			}

			// The same certificate through stdin, as a scanner would pipe it.
			r = run(t, e.root, []byte(hc1+"\n"), e.node, e.verifier, "--cert", kp.cert)
			if r.code != 0 {
				t.Errorf("node verifier (stdin) refused: exit %d: %s", r.code, strings.TrimSpace(r.stderr))
			}

			// And the project's own verifier agrees.
			r = run(t, e.root, nil, bin, "verify", "--cert", kp.cert, hc1)
			if r.code != 0 {
				t.Errorf("dccctl verify refused its own certificate: exit %d: %s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestNodeVerifierRefusesBad checks that the Node.js verifier does refuse
// what it must, so that its acceptance above means something.
func TestNodeVerifierRefusesBad(t *testing.T) {
	e := setup(t)
	bin := dccctl(t, e)
	kpA := keygen(t, e, bin)
	kpB := keygen(t, e, bin)
	payload, err := os.ReadFile(filepath.Join("testdata", "vaccination-simple.json"))
	if err != nil {
		t.Fatal(err)
	}
	hc1 := sign(t, e, bin, kpA, payload)
	if r := jsverify(t, e, kpA.cert, hc1); r.code != 0 {
		t.Fatalf("node verifier refused the untouched certificate: %s", r.stderr)
	}

	refused := func(t *testing.T, what string, r result, wantReason string) {
		t.Helper()
		if r.code == 0 {
			t.Errorf("%s: node verifier accepted it", what)
			return
		}
		if !strings.Contains(r.stderr, wantReason) {
			t.Errorf("%s: refused (exit %d) but for another reason than %q: %s", what, r.code, wantReason, strings.TrimSpace(r.stderr))
		}
		t.Logf("%s: refused: %s", what, strings.TrimSpace(r.stderr))
	}

	t.Run("flipped base45 character", func(t *testing.T) {
		refused(t, "flipped character", jsverify(t, e, kpA.cert, flipChar(hc1)), "INVALID")
	})

	t.Run("payload changed, signature kept", func(t *testing.T) {
		forged := tamperPayload(t, hc1, "Smith-Jones", "Smith-Jonez")
		refused(t, "changed name", jsverify(t, e, kpA.cert, forged), "signature")
	})

	t.Run("signed by another key", func(t *testing.T) {
		other := sign(t, e, bin, kpB, payload)
		refused(t, "HC1 of key B against DSC A", jsverify(t, e, kpA.cert, other), "kid")
	})

	t.Run("checked against another DSC", func(t *testing.T) {
		refused(t, "HC1 of key A against DSC B", jsverify(t, e, kpB.cert, hc1), "kid")
	})

	t.Run("expired", func(t *testing.T) {
		refused(t, "checked in 2200", jsverify(t, e, kpA.cert, hc1, "--now", "2200-01-01T00:00:00Z"), "expir")
	})

	t.Run("not yet issued", func(t *testing.T) {
		refused(t, "checked in 2000", jsverify(t, e, kpA.cert, hc1, "--now", "2000-01-01T00:00:00Z"), "issued in the future")
	})
}

// vectorSummary is the part of `selftest.js --json` the test reads.
type vectorSummary struct {
	Total          int `json:"total"`
	Used           int `json:"used"`
	ExpectValid    int `json:"expectValid"`
	ExpectInvalid  int `json:"expectInvalid"`
	Agreed         int `json:"agreed"`
	Disagreed      int `json:"disagreed"`
	NotApplicable  int `json:"notApplicable"`
	PayloadCompare int `json:"payloadCompared"`
	PayloadDiffers int `json:"payloadDiffers"`
	ByCountry      map[string]struct {
		Total, Used, Agreed, Disagreed, NotApplicable int
	} `json:"byCountry"`
	Disagreements []json.RawMessage `json:"disagreements"`
	PayloadDiffs  []json.RawMessage `json:"payloadDiffs"`
}

// TestNodeVerifierAgreesWithEUVectors runs the Node.js verifier over the EU
// DCC test vectors and checks that it accepts and refuses what they say.
func TestNodeVerifierAgreesWithEUVectors(t *testing.T) {
	e := setup(t)
	dir := os.Getenv("DCC_TESTDATA_DIR")
	if dir == "" {
		// The copy kept in the repository (source and licence in its README).
		dir = filepath.Join(e.root, "signing", "hcert", "testdata", "dgc-testdata")
	}
	if _, err := os.Stat(filepath.Join(dir, "SE", "2DCode", "raw")); err != nil {
		t.Fatalf("EU DCC test vectors not found in %s (set DCC_TESTDATA_DIR to the dgc-testdata folder, or DCC_SKIP_INTEROP=1 to skip): %v", dir, err)
	}
	r := run(t, e.root, nil, e.node, filepath.Join(e.jsdir, "selftest.js"), "--json",
		"--countries", strings.Join(vectorCountries, ","), dir)
	var s vectorSummary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("selftest.js: exit %d, unreadable output (%v)\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	for _, c := range vectorCountries {
		bc := s.ByCountry[c]
		t.Logf("%-6s %3d vectors, %3d used, %3d agree, %d disagree", c, bc.Total, bc.Used, bc.Agreed, bc.Disagreed)
		if bc.Used == 0 {
			t.Errorf("%s: no usable test vectors", c)
		}
	}
	t.Logf("total %d vectors: %d used (%d expected valid, %d expected invalid), %d agree, %d disagree, %d not applicable; payload equal to the vector's JSON in %d of %d",
		s.Total, s.Used, s.ExpectValid, s.ExpectInvalid, s.Agreed, s.Disagreed, s.NotApplicable, s.PayloadCompare-s.PayloadDiffers, s.PayloadCompare)
	for _, d := range s.Disagreements {
		t.Errorf("disagreement: %s", d)
	}
	for _, d := range s.PayloadDiffs {
		t.Errorf("payload differs: %s", d)
	}
	if s.ExpectValid == 0 || s.ExpectInvalid == 0 {
		t.Errorf("self-test needs both valid and invalid vectors, got %d and %d", s.ExpectValid, s.ExpectInvalid)
	}
	if r.code != 0 && len(s.Disagreements) == 0 && len(s.PayloadDiffs) == 0 {
		t.Errorf("selftest.js exited %d: %s", r.code, r.stderr)
	}
}

// --- tampering helpers (independent of the project's own codecs) ---

const b45chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// flipChar replaces one Base45 character in the middle of the HC1 text with
// another valid one.
func flipChar(hc1 string) string {
	b := []byte(hc1)
	i := 4 + (len(b)-4)/2
	j := strings.IndexByte(b45chars, b[i])
	b[i] = b45chars[(j+1)%len(b45chars)]
	return string(b)
}

func b45decode(s string) ([]byte, error) {
	var out []byte
	for i := 0; i < len(s); i += 3 {
		n := len(s) - i
		if n == 1 {
			return nil, errors.New("base45: bad length")
		}
		v := 0
		mul := 1
		for k := 0; k < 3 && k < n; k++ {
			c := strings.IndexByte(b45chars, s[i+k])
			if c < 0 {
				return nil, fmt.Errorf("base45: bad character %q", s[i+k])
			}
			v += c * mul
			mul *= 45
		}
		if n >= 3 {
			if v > 0xffff {
				return nil, errors.New("base45: value out of range")
			}
			out = append(out, byte(v>>8), byte(v))
		} else {
			if v > 0xff {
				return nil, errors.New("base45: value out of range")
			}
			out = append(out, byte(v))
		}
	}
	return out, nil
}

func b45encode(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); i += 2 {
		if i+1 < len(b) {
			v := int(b[i])<<8 | int(b[i+1])
			sb.WriteByte(b45chars[v%45])
			sb.WriteByte(b45chars[(v/45)%45])
			sb.WriteByte(b45chars[v/2025])
		} else {
			v := int(b[i])
			sb.WriteByte(b45chars[v%45])
			sb.WriteByte(b45chars[v/45])
		}
	}
	return sb.String()
}

// tamperPayload unpacks an HC1 string, replaces text of the same length
// inside the signed COSE message, and packs it again: the result is well
// formed and carries the right kid, but its signature no longer matches.
func tamperPayload(t *testing.T, hc1, from, to string) string {
	t.Helper()
	if len(from) != len(to) {
		t.Fatal("tamperPayload needs replacements of equal length")
	}
	z, err := b45decode(strings.TrimPrefix(hc1, "HC1:"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	cose, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(cose, []byte(from)) == 0 {
		t.Fatalf("%q not found in the COSE message", from)
	}
	forged := bytes.ReplaceAll(cose, []byte(from), []byte(to))
	var buf bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	zw.Write(forged)
	zw.Close()
	return "HC1:" + b45encode(buf.Bytes())
}
