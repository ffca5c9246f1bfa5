package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer"
)

// listStore counts the reads behind the published lists and can make them fail as a store
// outage does.
type listStore struct {
	issuer.Store
	reads atomic.Int64
	down  atomic.Bool
}

func (s *listStore) SigningCertificates(ctx context.Context) ([]issuer.SigningCertificate, error) {
	s.reads.Add(1)
	if s.down.Load() {
		return nil, fmt.Errorf("signing certificates: %w", issuer.ErrStoreUnavailable)
	}
	return s.Store.SigningCertificates(ctx)
}

func (s *listStore) Revocations(ctx context.Context, expiringAfter time.Time) ([]issuer.Revocation, error) {
	s.reads.Add(1)
	if s.down.Load() {
		return nil, fmt.Errorf("revocations: %w", issuer.ErrStoreUnavailable)
	}
	return s.Store.Revocations(ctx, expiringAfter)
}

// TestPublishedListsCached: a rush of verifiers costs one store read per list and interval; a
// revocation is in the list at once; while the store is down the last good list is served, and
// without one the answer is 503 store-unavailable.
func TestPublishedListsCached(t *testing.T) {
	st := &listStore{Store: openStore(t, "embedded")}
	var mu sync.Mutex
	now := time.Now().UTC()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := newEnv(t, "embedded", envOptions{store: st, clock: clock})

	// No list built yet and the store down: nothing to fall back on.
	st.down.Store(true)
	if a := e.do(http.MethodGet, "/api/v1/trust-list", "", nil); a.status != http.StatusServiceUnavailable || !a.has(t, "store-unavailable") {
		t.Fatalf("trust list with the store down and nothing built: %d %s", a.status, a.body)
	}
	st.down.Store(false)

	for _, path := range []string{"/api/v1/trust-list", "/api/v1/revocations"} {
		before := st.reads.Load()
		var wg sync.WaitGroup
		etags := make([]string, 20)
		for i := range etags {
			wg.Go(func() {
				a := e.do(http.MethodGet, path, "", nil)
				if a.status != http.StatusOK {
					t.Errorf("GET %s: %d %s", path, a.status, a.body)
				}
				etags[i] = a.header.Get("ETag")
			})
		}
		wg.Wait()
		if n := st.reads.Load() - before; n != 1 {
			t.Errorf("GET %s 20 times at once: %d store reads, want 1", path, n)
		}
		for _, tag := range etags {
			if tag != etags[0] || tag == "" {
				t.Fatalf("GET %s: ETags differ: %q", path, etags)
			}
		}
	}

	// A revocation through this service is in the list at once.
	issued := e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.RAT, fhirtest.Now(clock()))))
	before := e.do(http.MethodGet, "/api/v1/revocations", "", nil)
	if a := e.post(revokePath(issued.uvci), e.sandbox, []byte(`{"reason":"issued-in-error"}`)); a.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", a.status, a.body)
	}
	after := e.do(http.MethodGet, "/api/v1/revocations", "", nil)
	if after.status != http.StatusOK || after.header.Get("ETag") == before.header.Get("ETag") {
		t.Fatalf("the revocation list did not change with a revocation: %d %s", after.status, after.body)
	}

	// The store goes down: the lists last built are served, unchanged, past their interval.
	st.down.Store(true)
	advance(time.Minute)
	for _, path := range []string{"/api/v1/trust-list", "/api/v1/revocations"} {
		reads := st.reads.Load()
		a := e.do(http.MethodGet, path, "", nil)
		if a.status != http.StatusOK {
			t.Errorf("GET %s with the store down: %d %s", path, a.status, a.body)
		}
		if st.reads.Load() == reads {
			t.Errorf("GET %s past the interval did not try the store", path)
		}
	}
	if a := e.do(http.MethodGet, "/api/v1/revocations", "", nil); a.header.Get("ETag") != after.header.Get("ETag") {
		t.Errorf("the revocation list served during the outage is not the last one built")
	}
}
