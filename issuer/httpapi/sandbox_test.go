package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/registry/fileregister"
)

// TestSandboxNeverReachesThePopulationRegister: a sandbox credential resolves people against the
// test population only. A real person (in the population register, not in the test population)
// gets exactly the answer an unknown number gets, whether alive, protected or deceased; a test
// person is issued, and the certificate is stored under a key of its own, never the production
// subject key a citizen's list is read by.
func TestSandboxNeverReachesThePopulationRegister(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	real := fhirtest.MakePersonnummer("19610704", "357")
	protected := fhirtest.MakePersonnummer("19700228", "246")
	deceased := fhirtest.MakePersonnummer("19230517", "135")
	unknown := fhirtest.MakePersonnummer("19550909", "123")
	population, err := json.Marshal([]map[string]any{
		{"personnummer": real, "givenName": "Verklig", "familyName": "Person", "birthDate": "1961-07-04"},
		{"personnummer": protected, "givenName": "Skyddad", "familyName": "Person", "birthDate": "1970-02-28", "protected": true},
		{"personnummer": deceased, "givenName": "Avliden", "familyName": "Person", "birthDate": "1923-05-17", "deceased": true},
	})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "population.json")
	if err := os.WriteFile(file, population, 0o600); err != nil {
		t.Fatal(err)
	}
	prodReg, err := fileregister.Open(file, now)
	if err != nil {
		t.Fatal(err)
	}
	testPopulation, err := fileregister.Open("", now)
	if err != nil {
		t.Fatal(err)
	}
	for _, sk := range stores {
		t.Run(sk, func(t *testing.T) {
			e := newEnv(t, sk, envOptions{register: prodReg, sandboxRegister: testPopulation})
			body := func(pnr, id string) []byte {
				return fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.PNR(pnr), fhirtest.Identifier(id))
			}
			// The answer without its request id, which differs per request.
			refusal := func(pnr, id string) (int, string) {
				a := e.post("/api/v1/observation", e.sandbox, body(pnr, id))
				var oo map[string]any
				if err := json.Unmarshal(a.body, &oo); err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(oo["issue"])
				return a.status, string(b)
			}
			wantStatus, want := refusal(unknown, "sb-unknown")
			if wantStatus != http.StatusUnprocessableEntity {
				t.Fatalf("unknown number in the sandbox: %d %s", wantStatus, want)
			}
			for i, pnr := range []string{real, protected, deceased} {
				status, got := refusal(pnr, fmt.Sprintf("sb-real-%d", i))
				if status != wantStatus || got != want {
					t.Errorf("a real person in the sandbox is told apart from an unknown one:\n got %d %s\nwant %d %s", status, got, wantStatus, want)
				}
			}

			// Production resolves the real person.
			if a := e.post("/api/v1/observation", e.prod, body(real, "prod-real")); a.status != http.StatusOK || !bytes.Contains(a.body, []byte(`"givenName":"Verklig"`)) {
				t.Fatalf("production: %d", a.status)
			}

			// A test person is issued in the sandbox, under a subject key of its own.
			tolvan := "191212121212"
			if a := e.post("/api/v1/observation", e.sandbox, body(tolvan, "sb-tolvan")); a.status != http.StatusOK {
				t.Fatalf("test person in the sandbox: %d %s", a.status, a.body)
			}
			certs, err := e.store.CertificatesBySubject(t.Context(), e.svc.SubjectKeyFor(tolvan))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range certs {
				if c.Environment == issuer.Sandbox {
					t.Fatalf("a sandbox certificate is stored under the production subject key: %s", c.UVCI)
				}
			}
		})
	}
}
