package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/httpapi"
)

// keyReads counts the store reads of API keys.
type keyReads struct {
	issuer.Store
	n atomic.Int64
}

func (k *keyReads) APIKey(ctx context.Context, id string) (issuer.APIKey, error) {
	k.n.Add(1)
	return k.Store.APIKey(ctx, id)
}

// TestAuthFailuresLimitedPerAddress: an address that keeps failing to authenticate is answered
// 429 with Retry-After before any key is looked at, so made-up key ids stop costing store reads;
// while it waits, even a good key from that address waits.
func TestAuthFailuresLimitedPerAddress(t *testing.T) {
	st := &keyReads{Store: openStore(t, "embedded")}
	e := newEnv(t, "embedded", envOptions{store: st, authFails: httpapi.AuthFailureLimit{Rate: 0.01, Burst: 3}})
	body := fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now))
	made := func(i int) string { return fmt.Sprintf("dcc_%016d_%s", i, strings.Repeat("A", 43)) }
	for i := range 3 {
		if a := e.post("/api/v1/observation", made(i), body); a.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, a.status)
		}
	}
	before := st.n.Load()
	for i := 3; i < 20; i++ {
		a := e.post("/api/v1/observation", made(i), body)
		if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" || !a.has(t, "rate-limited") {
			t.Fatalf("failure %d past the limit: %d %s", i, a.status, a.body)
		}
	}
	if n := st.n.Load() - before; n != 0 {
		t.Errorf("%d store reads for key ids from a blocked address", n)
	}
	if a := e.post("/api/v1/observation", e.sandbox, body); a.status != http.StatusTooManyRequests {
		t.Errorf("a good key from the blocked address: %d", a.status)
	}
}
