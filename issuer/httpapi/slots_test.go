package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/admission"
	"github.com/sedcc/dcc/registry"
	"github.com/sedcc/dcc/registry/fileregister"
	"github.com/sedcc/dcc/registry/pnr"
)

// trickle opens a connection and sends a request whose body stops after its first bytes.
func trickle(t *testing.T, base, key string, body []byte) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /api/v1/observation HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/fhir+json\r\nContent-Length: %d\r\n\r\n%s",
		key, len(body), body[:10])
	return conn
}

// TestSlowBodiesHoldNoSlot: clients that trickle their bodies take no issuance slot (the body is
// read before admission), so another provider is served meanwhile; a trickle is cut off at the
// body deadline with 400 body-timeout.
func TestSlowBodiesHoldNoSlot(t *testing.T) {
	lim, err := admission.New(admission.Config{Name: "issue", Limit: 2, Queue: 1, Wait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "embedded", envOptions{admit: lim, bodyTimeout: 2 * time.Second})
	body := fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now))
	var conns []net.Conn
	for range 4 {
		conns = append(conns, trickle(t, e.url, e.sandbox, body))
	}
	time.Sleep(200 * time.Millisecond) // the four are inside the handler, reading
	if a := e.post("/api/v1/observation", e.prod, fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.PNR("198503122387"))); a.status != http.StatusOK {
		t.Fatalf("another provider while four bodies trickle: %d %s", a.status, a.codes(t))
	}
	_ = conns[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conns[0]), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw := make([]byte, 4096)
	n, _ := resp.Body.Read(raw)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw[:n]), "body-timeout") {
		t.Fatalf("a trickled body: %d %s", resp.StatusCode, raw[:n])
	}
}

// gate is a register whose look-ups wait until it opens, telling when one has entered.
type gate struct {
	inner   registry.Register
	entered chan struct{}
	open    chan struct{}
}

func (g *gate) Lookup(ctx context.Context, n pnr.Number) (registry.Person, error) {
	g.entered <- struct{}{}
	select {
	case <-g.open:
	case <-ctx.Done():
		return registry.Person{}, ctx.Err()
	}
	return g.inner.Lookup(ctx, n)
}

// TestOneCredentialHoldsOnlyItsShare: with a cap of one slot per credential, a second request of
// a credential whose first holds a slot is refused at once (503 overloaded, Retry-After), while
// another credential still gets a slot.
func TestOneCredentialHoldsOnlyItsShare(t *testing.T) {
	lim, err := admission.New(admission.Config{Name: "issue", Limit: 3, Queue: 3, Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	pop, err := fileregister.Open("", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{inner: pop, entered: make(chan struct{}, 4), open: make(chan struct{})}
	e := newEnv(t, "embedded", envOptions{register: g, admit: lim, slotsPerCred: 1})
	_, other, err := e.creds.Add(context.Background(), issuer.NewPrincipal{Name: "Other Clinic", Role: issuer.RoleProvider,
		Environment: issuer.Production, Kinds: []issuer.Kind{issuer.KindTest}})
	if err != nil {
		t.Fatal(err)
	}
	body := func(id string) []byte {
		return fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.PNR("198503122387"), fhirtest.Identifier(id))
	}
	var once sync.Once
	release := func() { once.Do(func() { close(g.open) }) }
	t.Cleanup(release)
	enter := func(what string) {
		t.Helper()
		select {
		case <-g.entered:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s never reached the register", what)
		}
	}
	results := make(chan answer, 3)
	go func() { results <- e.post("/api/v1/observation", e.prod, body("first")) }()
	enter("the first request") // it holds its credential's one slot, waiting for the register

	go func() { results <- e.post("/api/v1/observation", e.prod, body("second")) }()
	select {
	case a := <-results:
		if a.status != http.StatusServiceUnavailable || !a.has(t, "overloaded") || a.header.Get("Retry-After") == "" {
			t.Fatalf("second request of a credential at its share: %d %s", a.status, a.body)
		}
	case <-g.entered:
		t.Fatal("a second slot went to the credential that holds its share")
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to the second request")
	}
	go func() { results <- e.post("/api/v1/observation", other, body("other")) }()
	enter("another credential's request")
	release()
	for range 2 {
		if a := <-results; a.status != http.StatusOK {
			t.Fatalf("admitted request: %d %s", a.status, a.body)
		}
	}
}
