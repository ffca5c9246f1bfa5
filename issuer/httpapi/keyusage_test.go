package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/signing/dcc"
)

// A DSC whose extended key usages name only tests signs only tests: a vaccination or recovery
// for that environment is refused with kind-not-signable before any work, and audited.
func TestDSCKeyUsageLimitsIssuance(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{sandboxKinds: []dcc.Kind{dcc.KindTest}})
	now := fhirtest.Now(e.now)
	e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.RAT, now)))
	for _, tc := range []struct {
		path string
		body []byte
	}{
		{"/api/v1/immunization", fhirtest.Immunization(fhirtest.Comirnaty, now)},
		{"/api/v1/recovery", fhirtest.Observation(fhirtest.Recovery, now)},
	} {
		a := e.post(tc.path, e.sandbox, tc.body)
		if a.status != http.StatusForbidden || !a.has(t, problem.CodeKindNotSignable) {
			t.Errorf("%s with a test-only DSC: %d %s", tc.path, a.status, a.body)
		}
	}
}
