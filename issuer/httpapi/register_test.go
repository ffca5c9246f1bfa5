package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer/admission"
	"github.com/sedcc/dcc/registry"
	"github.com/sedcc/dcc/registry/fileregister"
	"github.com/sedcc/dcc/registry/httpregister"
	"github.com/sedcc/dcc/registry/pnr"
	"github.com/sedcc/dcc/registry/standin"
)

// Register settings for the fault tests: one attempt may take 500 ms, one look-up 1 s.
const (
	regTimeout = 500 * time.Millisecond
	regBudget  = 1000 * time.Millisecond
	// slack covers the rest of a request (parse, sign, store) on a loaded CI machine under the
	// race detector; the bound asserted is the register's share, not a speed target.
	slack = 3 * time.Second
)

type registerRig struct {
	standin *standin.Server
	client  *httpregister.Client
}

// timedRegister records the longest look-up, the register's share of a request's wait.
type timedRegister struct {
	*httpregister.Client
	mu      sync.Mutex
	longest time.Duration
}

func (r *timedRegister) Lookup(ctx context.Context, n pnr.Number) (registry.Person, error) {
	start := time.Now()
	p, err := r.Client.Lookup(ctx, n)
	d := time.Since(start)
	r.mu.Lock()
	r.longest = max(r.longest, d)
	r.mu.Unlock()
	return p, err
}

// takeLongest returns the longest look-up since the last call and starts anew.
func (r *timedRegister) takeLongest() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.longest
	r.longest = 0
	return d
}

func newRegisterRig(t testing.TB) *registerRig {
	t.Helper()
	pop, err := fileregister.Open("", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	si, err := standin.New(standin.Options{Register: pop})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(si)
	t.Cleanup(func() { si.Close(); ts.Close() })
	cl, err := httpregister.New(httpregister.Options{
		URL:             ts.URL,
		Timeout:         regTimeout,
		Budget:          regBudget,
		MaxAttempts:     2,
		BackoffBase:     10 * time.Millisecond,
		BackoffMax:      20 * time.Millisecond,
		BreakerFailures: 3,
		BreakerCooldown: 5 * time.Second,
		CacheTTL:        -1, // every request reaches the stand-in, so every fault is seen
	})
	if err != nil {
		t.Fatal(err)
	}
	return &registerRig{standin: si, client: cl}
}

type flowResult struct {
	status  int
	code    string
	source  string
	elapsed time.Duration
	retry   string
}

// flow sends n concurrent requests and reports each answer.
func (e *testEnv) flow(n int, body func(i int) []byte) []flowResult {
	var wg sync.WaitGroup
	out := make([]flowResult, n)
	for i := range n {
		wg.Go(func() {
			start := time.Now()
			a := e.post("/api/v1/observation", e.sandbox, body(i))
			r := flowResult{status: a.status, elapsed: time.Since(start), retry: a.header.Get("Retry-After")}
			var m map[string]any
			_ = json.Unmarshal(a.body, &m)
			if s, ok := m["identitySource"].(string); ok {
				r.source = s
			}
			if a.status != http.StatusOK {
				for c := range a.codes(e.t) {
					r.code = c
				}
			}
			out[i] = r
		})
	}
	wg.Wait()
	return out
}

// TestRegisterFaults drives the stand-in register through every fault while requests flow, and
// asserts for each the status, the code, the identity source and that no request waits longer
// than the register's budget.
func TestRegisterFaults(t *testing.T) {
	rig := newRegisterRig(t)
	timed := &timedRegister{Client: rig.client}
	e := newEnv(t, "embedded", envOptions{register: timed})
	var seq atomic.Int64
	withName := func(int) []byte {
		return fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.PNR("198503122387"),
			fhirtest.Name("Öberg", "Åsa"), fhirtest.BirthDate("1985-03-12"), fhirtest.Identifier(fmt.Sprintf("F-%d", seq.Add(1))))
	}
	bare := func(int) []byte {
		return fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.PNR("198503122387"), fhirtest.Identifier(fmt.Sprintf("F-%d", seq.Add(1))))
	}
	contradicting := func(int) []byte {
		return fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.PNR("198503122387"),
			fhirtest.Name("Öberg", "Åsa"), fhirtest.BirthDate("1985-03-13"), fhirtest.Identifier(fmt.Sprintf("F-%d", seq.Add(1))))
	}
	unknownPerson := func(int) []byte {
		return fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.PNR(fhirtest.MakePersonnummer("19800101", "123")),
			fhirtest.Identifier(fmt.Sprintf("F-%d", seq.Add(1))))
	}
	type want struct {
		status int
		code   string
		source string
	}
	phases := []struct {
		name   string
		faults *standin.Faults // nil: healthy
		body   func(int) []byte
		want   want
	}{
		{"healthy", nil, bare, want{200, "", "register"}},
		{"healthy, name sent too", nil, withName, want{200, "", "register"}},
		{"slow but within the timeout", &standin.Faults{Latency: 30 * time.Millisecond}, bare, want{200, "", "register"}},
		{"not found", &standin.Faults{NotFound: true}, bare, want{422, "person-not-found", ""}},
		{"person not in register", nil, unknownPerson, want{422, "person-not-found", ""}},
		{"errors, fallback", &standin.Faults{ErrorRate: 1, ErrorStatus: 503}, withName, want{200, "", "birthdate-fallback"}},
		{"errors, no name", &standin.Faults{ErrorRate: 1, ErrorStatus: 500}, bare, want{503, "register-unavailable", ""}},
		{"timeouts, fallback", &standin.Faults{Timeout: true}, withName, want{200, "", "birthdate-fallback"}},
		{"timeouts, no name", &standin.Faults{Timeout: true}, bare, want{503, "register-unavailable", ""}},
		{"outage, fallback", &standin.Faults{Outage: true}, withName, want{200, "", "birthdate-fallback"}},
		{"outage, birth date contradicts", &standin.Faults{Outage: true}, contradicting, want{422, "birthdate-mismatch", ""}},
		{"outage, no name", &standin.Faults{Outage: true}, bare, want{503, "register-unavailable", ""}},
	}
	for _, ph := range phases {
		t.Run(ph.name, func(t *testing.T) {
			e.t = t
			if ph.faults == nil {
				rig.standin.ClearFaults()
				waitBreakerClosed(t, rig.client, e)
			} else if err := rig.standin.SetFaults(*ph.faults); err != nil {
				t.Fatal(err)
			}
			timed.takeLongest()
			results := e.flow(8, ph.body)
			// The register's own share: at most one attempt timeout (a timed-out attempt is not
			// retried), plus timer slack on a loaded machine.
			if d := timed.takeLongest(); d > regTimeout+250*time.Millisecond {
				t.Errorf("a look-up took %s, more than one attempt timeout (%s)", d, regTimeout)
			}
			for _, r := range results {
				if r.status != ph.want.status || r.code != ph.want.code || r.source != ph.want.source {
					t.Errorf("got %d %q source %q, want %d %q source %q", r.status, r.code, r.source, ph.want.status, ph.want.code, ph.want.source)
				}
				if r.elapsed > regBudget+slack {
					t.Errorf("a request waited %s, more than the register budget %s (+%s)", r.elapsed, regBudget, slack)
				}
				if r.status == 503 && r.retry == "" {
					t.Error("503 without Retry-After")
				}
			}
		})
	}

	// While the register is unreachable the breaker opens after the first failures: later
	// requests do not wait for a timeout at all.
	t.Run("breaker open fails fast", func(t *testing.T) {
		e.t = t
		if err := rig.standin.SetFaults(standin.Faults{Timeout: true}); err != nil {
			t.Fatal(err)
		}
		e.flow(4, withName)
		if st := rig.client.State(); st.Breaker != httpregister.BreakerOpen || st.Status != "down" {
			t.Fatalf("register state %+v, want the breaker open", st)
		}
		// The register being down leaves the service ready, and says so.
		ready := e.do(http.MethodGet, "/readyz", "", nil)
		rb := ready.json(t)
		if ready.status != http.StatusOK || rb["status"] != "degraded" || rb["register"].(map[string]any)["breaker"] != "open" {
			t.Errorf("readyz with the register down: %d %s", ready.status, ready.body)
		}
		// Attempts that gave up may still be arriving at the stand-in on a loaded machine: count
		// from when its counter has settled.
		before := settledLookups(rig.standin)
		for _, r := range e.flow(8, withName) {
			if r.status != 200 || r.source != "birthdate-fallback" {
				t.Errorf("with the breaker open: %d %s", r.status, r.source)
			}
			if r.elapsed >= regTimeout+slack {
				t.Errorf("with the breaker open a request took %s", r.elapsed)
			}
		}
		// The breaker may reach the end of its cool-down during the burst: then exactly one probe
		// goes through, and the breaker opens again.
		if got := rig.standin.Stats().Lookups - before; got > 1 {
			t.Errorf("%d look-ups reached the register while the breaker was open (at most one probe)", got)
		}
	})

	t.Run("recovers", func(t *testing.T) {
		e.t = t
		rig.standin.ClearFaults()
		waitBreakerClosed(t, rig.client, e)
		for _, r := range e.flow(4, bare) {
			if r.status != 200 || r.source != "register" {
				t.Errorf("after recovery: %d %s %s", r.status, r.code, r.source)
			}
		}
		if ready := e.do(http.MethodGet, "/readyz", "", nil); ready.json(t)["status"] != "ready" {
			t.Errorf("readyz after recovery: %s", ready.body)
		}
	})
}

// settledLookups waits until the stand-in's look-up count stops moving and returns it.
func settledLookups(si *standin.Server) int64 {
	last := si.Stats().Lookups
	for range 10 {
		time.Sleep(100 * time.Millisecond)
		now := si.Stats().Lookups
		if now == last {
			return now
		}
		last = now
	}
	return last
}

// waitBreakerClosed sends look-ups until the breaker has let a probe through and closed.
func waitBreakerClosed(t *testing.T, cl *httpregister.Client, e *testEnv) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for cl.State().Breaker != httpregister.BreakerClosed {
		if time.Now().After(deadline) {
			t.Fatalf("breaker did not close: %+v", cl.State())
		}
		time.Sleep(50 * time.Millisecond)
		_, _ = cl.Lookup(t.Context(), mustPNR(t, "198503122387"))
	}
}

func mustPNR(t *testing.T, s string) pnr.Number {
	t.Helper()
	n, err := pnr.Parse(s, pnr.Personnummer, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOverload: with the issuance budget full, excess requests get 503 overloaded with
// Retry-After and an OperationOutcome at once; admitted requests complete; nothing else happens.
func TestOverload(t *testing.T) {
	rig := newRegisterRig(t)
	// A slow register keeps each admitted request busy long enough to fill the budget.
	if err := rig.standin.SetFaults(standin.Faults{Latency: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	lim, err := admission.New(admission.Config{Name: "issue", Limit: 2, Queue: 1, Wait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "embedded", envOptions{register: rig.client, admit: lim})
	var seq atomic.Int64
	results := e.flow(24, func(int) []byte {
		return fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.PNR("198503122387"), fhirtest.Identifier(fmt.Sprintf("O-%d", seq.Add(1))))
	})
	ok, shed := 0, 0
	for _, r := range results {
		switch {
		case r.status == http.StatusOK:
			ok++
		case r.status == http.StatusServiceUnavailable && r.code == "overloaded" && r.retry != "":
			shed++
		default:
			t.Errorf("unexpected answer under overload: %d %q Retry-After %q", r.status, r.code, r.retry)
		}
	}
	if ok < 2 || shed == 0 {
		t.Fatalf("admitted %d, shed %d: the budget of 2 did not shed the excess", ok, shed)
	}
	// A slot is given back once its handler returns, which may be just after the client has read
	// the answer: wait a moment for the last one.
	st := lim.Stats()
	for deadline := time.Now().Add(2 * time.Second); st.InFlight != 0 && time.Now().Before(deadline); st = lim.Stats() {
		time.Sleep(5 * time.Millisecond)
	}
	if st.InFlight != 0 || st.Rejected() != uint64(shed) {
		t.Errorf("limiter after the rush: %+v", st)
	}
	m := e.do(http.MethodGet, "/metrics", "", nil)
	if m.status != http.StatusOK || !strings.Contains(string(m.body), "dcc_admission_rejected_total") {
		t.Errorf("/metrics: %d", m.status)
	}
	for _, secret := range []string{"198503122387", "Öberg", "URN:UVCI"} {
		if strings.Contains(string(m.body), secret) {
			t.Errorf("/metrics holds %q", secret)
		}
	}
}

// TestRegisterRefusingTheServiceIsNoOutage: a register that refuses the service's credentials is
// a fault to fix, not an outage: no certificate is issued on the provider's claimed identity.
func TestRegisterRefusingTheServiceIsNoOutage(t *testing.T) {
	pop, err := fileregister.Open("", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	si, err := standin.New(standin.Options{Register: pop, Token: "the-right-token"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(si)
	t.Cleanup(func() { si.Close(); ts.Close() })
	cl, err := httpregister.New(httpregister.Options{URL: ts.URL, Token: "a-wrong-token", CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "embedded", envOptions{register: cl})
	a := e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.PNR("198503122387"),
		fhirtest.Name("Fake", "Mallory"), fhirtest.BirthDate("1985-03-12")))
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
		t.Fatalf("register refusing the service: %d %s", a.status, a.body)
	}
	if _, ok := a.codes(t)["register-unavailable"]; !ok {
		t.Fatalf("codes %v", a.codes(t))
	}
	if st := cl.State(); st.Status != "down" {
		t.Errorf("register state %+v, want down", st)
	}
}
