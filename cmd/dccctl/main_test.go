package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/trust"
)

var clock = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, stdin string, vars map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{
		ctx: context.Background(), stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		now:    func() time.Time { return clock },
		getenv: func(k string) string { return vars[k] },
	}
	code := run(e, args)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

const payloadJSON = `{
  "ver": "1.3.0",
  "nam": {"fn": "Lövström", "gn": "Åsa Märta"},
  "dob": "1958-11-11",
  "v": [{"tg": "840539006", "vp": "J07BX03", "mp": "EU/1/21/1529", "ma": "ORG-100030215",
         "dn": 2, "sd": 2, "dt": "2021-05-18", "co": "SE", "is": "Swedish eHealth Agency",
         "ci": "URN:UVCI:01:SE:EHM/V100000024GI5HM"}]
}`

func TestKeygenSignDecodeVerify(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "k")
	r := runCLI(t, "", nil, "keygen", "--out", dir)
	if r.code != 0 {
		t.Fatalf("keygen: %d %s", r.code, r.stderr)
	}
	keyPath, certPath := filepath.Join(dir, keys.KeyFile), filepath.Join(dir, keys.CertFile)
	r = runCLI(t, payloadJSON, nil, "sign", "--key", keyPath, "--cert", certPath, "--valid-days", "30")
	if r.code != 0 {
		t.Fatalf("sign: %d %s", r.code, r.stderr)
	}
	hc1 := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(hc1, "HC1:") {
		t.Fatalf("sign printed %q", hc1)
	}

	r = runCLI(t, hc1+"\n", nil, "decode")
	if r.code != 0 {
		t.Fatalf("decode: %d %s", r.code, r.stderr)
	}
	var dec struct {
		Algorithm string `json:"algorithm"`
		Claims    struct {
			Iss, IatDate, ExpDate string
			Iat, Exp              int64
		}
		Kind    string
		Payload struct {
			Nam struct{ Fnt, Gnt string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &dec); err != nil {
		t.Fatalf("decode output: %v\n%s", err, r.stdout)
	}
	if dec.Algorithm != "ES256" || dec.Claims.Iss != "SE" || dec.Kind != "vaccination" ||
		dec.Claims.IatDate != "2026-03-01T12:00:00Z" || dec.Claims.ExpDate != "2026-03-31T12:00:00Z" ||
		dec.Claims.Iat != 1772366400 || dec.Claims.Exp != 1774958400 {
		t.Errorf("decode: %+v", dec)
	}
	if dec.Payload.Nam.Fnt != "LOEVSTROEM" || dec.Payload.Nam.Gnt != "AASA<MAERTA" {
		t.Errorf("standardised names not filled in: %+v", dec.Payload.Nam)
	}
	if r := runCLI(t, "", nil, "decode", hc1); r.code != 0 {
		t.Errorf("decode with argument: %d %s", r.code, r.stderr)
	}

	if r := runCLI(t, "", nil, "verify", "--cert", certPath, hc1); r.code != 0 || !strings.Contains(r.stdout, `"valid": true`) {
		t.Errorf("verify: %d %s %s", r.code, r.stdout, r.stderr)
	}
	cases := []struct {
		name   string
		args   []string
		reason string
	}{
		{"expired", []string{"verify", "--cert", certPath, "--now", "2027-01-01T00:00:00Z", hc1}, "expired"},
		{"before iat", []string{"verify", "--cert", certPath, "--now", "2026-02-01T00:00:00Z", hc1}, "not-yet-valid"},
		{"tampered", []string{"verify", "--cert", certPath, hc1[:len(hc1)-3] + "AAA"}, ""},
		{"wrong prefix", []string{"verify", "--cert", certPath, "HC2:" + hc1[4:]}, "prefix"},
	}
	for _, c := range cases {
		r := runCLI(t, "", nil, c.args...)
		if r.code != exitFailure || !strings.Contains(r.stderr, "invalid: "+c.reason) {
			t.Errorf("%s: exit %d, stderr %q", c.name, r.code, r.stderr)
		}
	}
	// Another DSC does not know the kid.
	other := filepath.Join(t.TempDir(), "other")
	if r := runCLI(t, "", nil, "keygen", "-o", other); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := runCLI(t, "", nil, "verify", "--cert", filepath.Join(other, keys.CertFile), hc1); r.code != exitFailure || !strings.Contains(r.stderr, "unknown-kid") {
		t.Errorf("foreign DSC: %d %s", r.code, r.stderr)
	}
}

func TestVerifyTrustList(t *testing.T) {
	dir := t.TempDir()
	// Without --out the key goes where dccd keeps its development sandbox key.
	if r := runCLI(t, "", map[string]string{"DCC_DATA_DIR": dir}, "keygen"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	cert, err := keys.LoadCertificate(filepath.Join(dir, "keys", "sandbox", keys.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := json.Marshal(trust.New("development", cert))
	if err != nil {
		t.Fatal(err)
	}
	listPath := filepath.Join(dir, "trust.json")
	if err := os.WriteFile(listPath, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(doc) }))
	defer srv.Close()

	// Key and DSC found through DCC_DATA_DIR when --key and --cert are absent.
	r := runCLI(t, payloadJSON, map[string]string{"DCC_DATA_DIR": dir}, "sign")
	if r.code != 0 {
		t.Fatalf("sign: %s", r.stderr)
	}
	hc1 := strings.TrimSpace(r.stdout)
	for _, src := range []string{listPath, srv.URL} {
		if r := runCLI(t, hc1, nil, "verify", "--trust-list", src); r.code != 0 {
			t.Errorf("verify --trust-list %s: %d %s", src, r.code, r.stderr)
		}
	}

	// A list whose body does not match its Content-Digest is not used.
	altered := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set(trust.DigestHeader, trust.Digest([]byte(`{"certificates":[]}`)))
		w.Write(doc)
	}))
	defer altered.Close()
	if r := runCLI(t, hc1, nil, "verify", "--trust-list", altered.URL); r.code != exitFailure || !strings.Contains(r.stderr, "Content-Digest") {
		t.Errorf("verify against a list that fails its digest: %d %s", r.code, r.stderr)
	}
}

// decode prints iat and exp as the numbers encoded and the dates they name; an exp no calendar
// date stands for is printed as its number, with a problem, and no date.
func TestDecodeHostileExpiry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "k")
	if r := runCLI(t, "", nil, "keygen", "--out", dir); r.code != 0 {
		t.Fatal(r.stderr)
	}
	key, cert, err := keys.Load(filepath.Join(dir, keys.KeyFile), filepath.Join(dir, keys.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	s, err := hcert.NewSigner(key, cert)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(payloadJSON), &p); err != nil {
		t.Fatal(err)
	}
	cwt, err := cbor.Marshal(map[int]any{1: "SE", 6: clock.Unix(), 4: int64(1<<63 - 1), -260: map[int]any{1: p}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.SignCWT(cwt)
	if err != nil {
		t.Fatal(err)
	}
	hc1, err := s.Encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", nil, "decode", hc1)
	if r.code != 0 {
		t.Fatalf("decode: %d %s", r.code, r.stderr)
	}
	var out struct {
		Claims map[string]any `json:"claims"`
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	c := out.Claims
	if c["exp"] != json.Number("9223372036854775807") || c["expDate"] != nil || c["iat"] != json.Number("1772366400") ||
		c["iatDate"] != "2026-03-01T12:00:00Z" || !strings.Contains(fmt.Sprint(c["problems"]), "exp 9223372036854775807") {
		t.Errorf("claims %v", c)
	}
	if strings.Contains(r.stdout, "292277026596") {
		t.Errorf("decode printed the year 292277026596:\n%s", r.stdout)
	}
	if r := runCLI(t, "", nil, "verify", "--cert", filepath.Join(dir, keys.CertFile), hc1); r.code != exitFailure || !strings.Contains(r.stderr, "malformed") {
		t.Errorf("verify of a hostile exp: %d %s", r.code, r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{},
		{"nonsense"},
		{"verify", "HC1:X"}, // neither --cert nor --trust-list
		{"verify", "--cert", "a", "--trust-list", "b", "HC1:X"}, // both
		{"keygen", "--bogus"},
		{"decode"}, // nothing on stdin
	}
	for _, args := range cases {
		if r := runCLI(t, "", nil, args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, r.code, exitUsage, r.stderr)
		}
	}
	if r := runCLI(t, "", nil, "help"); r.code != 0 || !strings.Contains(r.stderr, "keygen") {
		t.Errorf("help: %d %s", r.code, r.stderr)
	}
}

func TestSignRejectsBadPayload(t *testing.T) {
	dir := t.TempDir()
	if r := runCLI(t, "", nil, "keygen", "--out", filepath.Join(dir, "keys", "sandbox")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	env := map[string]string{"DCC_DATA_DIR": dir}
	for name, payload := range map[string]string{
		"unknown field": `{"ver":"1.3.0","nam":{"fnt":"A"},"dob":"","x":1}`,
		"no group":      `{"ver":"1.3.0","nam":{"fnt":"A"},"dob":""}`,
		"not JSON":      `HC1:`,
		"unmappable":    strings.Replace(payloadJSON, "Lövström", "王", 1),
	} {
		if r := runCLI(t, payload, env, "sign"); r.code != exitFailure {
			t.Errorf("%s: exit %d", name, r.code)
		}
	}
}

func TestKeygenCSR(t *testing.T) {
	dir := t.TempDir()
	r := runCLI(t, "", nil, "keygen", "--out", dir, "--csr", "--org", "E-hälsomyndigheten")
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	raw, err := os.ReadFile(filepath.Join(dir, keys.CSRFile))
	if err != nil || !bytes.Contains(raw, []byte("CERTIFICATE REQUEST")) {
		t.Errorf("no CSR written: %v", err)
	}
	if r := runCLI(t, "", nil, "keygen", "--out", dir); r.code != exitFailure {
		t.Errorf("keygen over an existing key: exit %d", r.code)
	}
}

// TestOversizedStdin: an HC1 line longer than any certificate is refused as too large.
func TestOversizedStdin(t *testing.T) {
	big := strings.Repeat("A", 70000)
	for _, cmd := range []string{"decode", "verify"} {
		args := []string{cmd}
		if cmd == "verify" {
			args = append(args, "--cert", "unused.crt")
		}
		if r := runCLI(t, big, nil, args...); r.code != exitFailure || !strings.Contains(r.stderr, "too large") {
			t.Errorf("%s: exit %d %q", cmd, r.code, r.stderr)
		}
	}
}
