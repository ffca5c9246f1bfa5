package httpapi_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/status"
)

// TestExpiredDSC: once the signing certificate has expired, or before it is valid, issuance
// answers 503 signing-unavailable with Retry-After (no certificate every verifier would reject)
// and readiness fails, both from the issuer's one signing state.
func TestExpiredDSC(t *testing.T) {
	var at atomic.Int64
	at.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, at.Load()).UTC() }
	e := newEnv(t, "embedded", envOptions{clock: clock})
	if a := e.do(http.MethodGet, "/readyz", "", nil); a.status != http.StatusOK {
		t.Fatalf("readyz with a valid DSC: %d %s", a.status, a.body)
	}
	later := e.dscs[issuer.Sandbox].NotAfter.Add(time.Hour)
	at.Store(later.UnixNano())
	a := e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.RAT, fhirtest.Now(later)))
	if a.status != http.StatusServiceUnavailable || !a.has(t, "signing-unavailable") || a.header.Get("Retry-After") == "" {
		t.Fatalf("issuance with an expired DSC: %d Retry-After %q %s", a.status, a.header.Get("Retry-After"), a.body)
	}
	r := e.do(http.MethodGet, "/readyz", "", nil)
	if r.status != http.StatusServiceUnavailable || r.json(t)["signers"].(map[string]any)["sandbox"] != "down" {
		t.Fatalf("readyz with an expired DSC: %d %s", r.status, r.body)
	}
	// The status page's signing light reads the same state.
	if l, msg := status.SigningProbe(e.svc, clock, 0)(t.Context()); l != status.Red {
		t.Fatalf("status signing light %s %q, want red", l, msg)
	}

	// Before the DSC's NotBefore (a clock set back, a key installed early): the same answer,
	// with the time left as Retry-After.
	earlier := e.dscs[issuer.Sandbox].NotBefore.Add(-10 * time.Minute)
	at.Store(earlier.UnixNano())
	a = e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.RAT, fhirtest.Now(earlier)))
	if a.status != http.StatusServiceUnavailable || !a.has(t, "signing-unavailable") || a.header.Get("Retry-After") != "300" {
		// Retry-After is the time left, at most the 5 minutes of SigningRetryAfter.
		t.Fatalf("issuance before NotBefore: %d Retry-After %q %s", a.status, a.header.Get("Retry-After"), a.body)
	}
	if r := e.do(http.MethodGet, "/readyz", "", nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz before NotBefore: %d %s", r.status, r.body)
	}
}
