package httpapi_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/fhirtest"
)

// The generator and its runtime, pinned: a vendor's client is generated from the DIGG swagger.json
// with oapi-codegen's default settings, in a module of its own that requires nothing of this one.
const (
	oapiCodegen        = "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.5.1"
	oapiRuntimeVersion = "v1.1.2"
)

// vendorParsed is what testdata/vendorclient prints: the answers as the generated types read them.
type vendorParsed struct {
	TestStatus, RecoveryStatus             int
	TestUVCI, TestFamilyName, TestIdentity string
	TestResult, TestType, TestValidThrough string
	TestProofMimetypes, TestFileNames      []string
	RecoveryUVCI, RecoveryPositiveDate     string
	RecoveryIssuanceDate, RecoveryIdentity string
	RecoveryProofMimetypes                 []string
	TestQRMimetype                         string
	TestQRWidth                            int32
}

// A client generated from the DIGG swagger.json, unchanged, issues a test and a recovery
// certificate on the compatibility paths, and the generated types decode the answers. The FHIR
// resource is the body on the wire (the generated ...WithBody methods), as the Swedish service
// took it; swagger.json's {request, organization} object describes its server method's
// parameters, not the wire.
func TestGeneratedVendorClient(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to generate the client: %v", err)
	}
	spec, err := filepath.Abs(filepath.Join("testdata", "covidbevis-api", "swagger.json"))
	if err != nil {
		t.Fatal(err)
	}
	program, err := os.ReadFile(filepath.Join("testdata", "vendorclient", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("go.mod", []byte("module vendorclient\n\ngo 1.24\n\nrequire github.com/oapi-codegen/runtime "+oapiRuntimeVersion+"\n"))
	write("main.go", program)

	// Bounded: the first run downloads the generator through the module proxy.
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	goCmd := func(args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(ctx, goBin, args...)
		cmd.Dir = dir
		// This module is the vendor's, not ours: its go.sum is written as it resolves.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	if err := os.MkdirAll(filepath.Join(dir, "covidbevis"), 0o755); err != nil {
		t.Fatal(err)
	}
	goCmd("run", oapiCodegen, "-generate", "types,client", "-package", "covidbevis", "-o", filepath.Join("covidbevis", "client.gen.go"), spec)

	e := newEnv(t, "embedded", envOptions{})
	testBody := write("test.json", fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.Identifier("VENDOR-T1")))
	recBody := write("recovery.json", fhirtest.Observation(fhirtest.Recovery, fhirtest.Now(e.now), fhirtest.Identifier("VENDOR-R1")))
	out := goCmd("run", ".", e.url, e.sandbox, testBody, recBody)

	var got vendorParsed
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("vendor client printed %q: %v", out, err)
	}
	if got.TestStatus != 200 || got.RecoveryStatus != 200 {
		t.Fatalf("statuses %d and %d, want 200", got.TestStatus, got.RecoveryStatus)
	}
	for _, uvci := range []string{got.TestUVCI, got.RecoveryUVCI} {
		if !strings.HasPrefix(uvci, "URN:UVCI:01:SE:") {
			t.Errorf("UVCI %q", uvci)
			continue
		}
		if _, err := e.store.CertificateByUVCI(t.Context(), uvci); err != nil {
			t.Errorf("the UVCI the client read, %s, is not a stored certificate: %v", uvci, err)
		}
	}
	if got.TestResult != fhirtest.NotDetected || got.TestType != fhirtest.TestTypeRAT || got.TestFamilyName != "Tolvansson" {
		t.Errorf("test proof read as result %q, type %q, family name %q", got.TestResult, got.TestType, got.TestFamilyName)
	}
	if got.TestIdentity != fhirtest.DefaultPNR || got.RecoveryIdentity != fhirtest.DefaultPNR {
		t.Errorf("subject.identity %q and %q, want the personnummer sent, %s", got.TestIdentity, got.RecoveryIdentity, fhirtest.DefaultPNR)
	}
	if got.TestQRMimetype != "image/png" || got.TestQRWidth <= 0 {
		t.Errorf("QR code %q width %d", got.TestQRMimetype, got.TestQRWidth)
	}
	if len(got.TestProofMimetypes) == 0 || len(got.RecoveryProofMimetypes) == 0 || len(got.TestFileNames) != len(got.TestProofMimetypes) {
		t.Errorf("proofTypes %v (file names %v), recovery %v", got.TestProofMimetypes, got.TestFileNames, got.RecoveryProofMimetypes)
	}
	if vt, err := time.Parse(time.RFC3339, got.TestValidThrough); err != nil || !vt.After(e.now) {
		t.Errorf("test validThrough %q (%v), want after now %s", got.TestValidThrough, err, e.now)
	}
	if got.RecoveryPositiveDate == "" || got.RecoveryPositiveDate >= got.RecoveryIssuanceDate {
		t.Errorf("recovery positive test %q, issued %q", got.RecoveryPositiveDate, got.RecoveryIssuanceDate)
	}
}
