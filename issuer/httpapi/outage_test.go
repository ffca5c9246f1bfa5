package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/pgtest"
	"github.com/sedcc/dcc/issuer/store/postgres"
)

// TestStoreOutage: with the database gone, readiness fails and issuance answers 503
// store-unavailable with Retry-After at once, not after a long timeout; when the database is back
// both recover without a restart.
func TestStoreOutage(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	if err := postgres.Migrate(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := pgtest.NewProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	u.Host = proxy.Addr()
	st, err := postgres.Open(ctx, u.String(), postgres.Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newEnv(t, "postgres", envOptions{store: st})

	body := func(id string) []byte {
		return fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.Identifier(id))
	}
	e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox, body("SO-1")))
	if a := e.do(http.MethodGet, "/readyz", "", nil); a.status != http.StatusOK {
		t.Fatalf("readyz before the outage: %d %s", a.status, a.body)
	}

	proxy.Refuse()
	start := time.Now()
	a := e.post("/api/v1/observation", e.sandbox, body("SO-2"))
	took := time.Since(start)
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
		t.Fatalf("issuance with the store down: %d Retry-After %q %s", a.status, a.header.Get("Retry-After"), a.body)
	}
	if _, ok := a.codes(t)["store-unavailable"]; !ok {
		t.Fatalf("codes %v", a.codes(t))
	}
	if took > 2*time.Second {
		t.Errorf("the answer took %s with the store refusing connections", took)
	}
	// The failure is logged once, where it is answered, with its cause.
	if lines := e.failureLogs(a.header.Get("X-Request-ID")); len(lines) != 1 || !strings.Contains(lines[0], "store-unavailable") {
		t.Errorf("failure log lines for the request: %q", lines)
	}
	r := e.do(http.MethodGet, "/readyz", "", nil)
	if r.status != http.StatusServiceUnavailable || r.json(t)["store"] != "down" || r.json(t)["status"] != "unready" {
		t.Fatalf("readyz with the store down: %d %s", r.status, r.body)
	}
	if h := e.do(http.MethodGet, "/healthz", "", nil); h.status != http.StatusOK {
		t.Fatalf("healthz with the store down: %d", h.status)
	}

	if err := proxy.Heal(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		r = e.do(http.MethodGet, "/readyz", "", nil)
		if r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz did not recover: %d %s", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox, body("SO-2")))

	// A database that stops answering (packets dropped): the request waits at most the store's
	// operation timeout, not the client's, and gets the same 503.
	proxy.Blackhole()
	start = time.Now()
	a = e.post("/api/v1/observation", e.sandbox, body("SO-3"))
	took = time.Since(start)
	if a.status != http.StatusServiceUnavailable || !a.has(t, "store-unavailable") || a.header.Get("Retry-After") == "" {
		t.Fatalf("issuance with the store silent: %d %s", a.status, a.body)
	}
	t.Logf("answer with the store silent after %s", took)
	if took > 2*time.Second+3*time.Second {
		t.Errorf("the answer took %s with the store silent; the store timeout is 2s", took)
	}
	if err := proxy.Heal(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(15 * time.Second)
	for e.do(http.MethodGet, "/readyz", "", nil).status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("readyz did not recover after the silence")
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox, body("SO-3")))
}

// certRefusingStore fails every write that carries a certificate, as a store that rejects a
// constraint would, and passes everything else through.
type certRefusingStore struct{ issuer.Store }

func (c certRefusingStore) Record(ctx context.Context, r issuer.Record) error {
	if r.Certificate != nil {
		return errors.New("constraint violated: certificates_pkey")
	}
	return c.Store.Record(ctx, r)
}

// TestInternalFailureLoggedOnce: a failure the service cannot name is answered 500 internal-error
// without detail, and its cause is logged exactly once, with the request id.
func TestInternalFailureLoggedOnce(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{store: certRefusingStore{openStore(t, "embedded")}})
	a := e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now)))
	if a.status != http.StatusInternalServerError || !a.has(t, "internal-error") || strings.Contains(string(a.body), "constraint") {
		t.Fatalf("answer %d %s", a.status, a.body)
	}
	lines := e.failureLogs(a.header.Get("X-Request-ID"))
	if len(lines) != 1 || !strings.Contains(lines[0], "certificates_pkey") || !strings.Contains(lines[0], `"level":"ERROR"`) {
		t.Fatalf("failure log lines for the request: %q", lines)
	}
}
