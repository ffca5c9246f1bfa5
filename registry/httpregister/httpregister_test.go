package httpregister

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/sedcc/dcc/registry"
	"github.com/sedcc/dcc/registry/fileregister"
	"github.com/sedcc/dcc/registry/pnr"
	"github.com/sedcc/dcc/registry/registerapi"
	"github.com/sedcc/dcc/registry/standin"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// clock is a settable clock for the cache and State.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// transitions records breaker transitions from OnStateChange.
type transitions struct {
	mu   sync.Mutex
	seen []string
}

func (tr *transitions) record(from, to string) {
	tr.mu.Lock()
	tr.seen = append(tr.seen, from+">"+to)
	tr.mu.Unlock()
}

func (tr *transitions) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.seen...)
}

type fixture struct {
	standin *standin.Server
	server  *httptest.Server
	client  *Client
	clock   *clock
	trans   *transitions
	tolvan  pnr.Number
	unknown pnr.Number
}

// fast are options that keep the tests quick: short waits, the real structure.
func fast() Options {
	return Options{
		Timeout:         200 * time.Millisecond,
		Budget:          2 * time.Second,
		MaxAttempts:     3,
		BackoffBase:     time.Millisecond,
		BackoffMax:      5 * time.Millisecond,
		BreakerFailures: 100, // out of the way unless a test is about the breaker
		BreakerCooldown: time.Minute,
	}
}

func newFixture(t testing.TB, o Options, so standin.Options) *fixture {
	t.Helper()
	reg, err := fileregister.Open("", now)
	if err != nil {
		t.Fatal(err)
	}
	so.Register = reg
	so.Clock = func() time.Time { return now }
	si, err := standin.New(so)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(si)
	t.Cleanup(func() {
		si.Close()
		srv.Close()
	})
	f := &fixture{standin: si, server: srv, clock: &clock{t: now}, trans: &transitions{}}
	o.URL = srv.URL
	o.Clock = f.clock.Now
	o.OnStateChange = f.trans.record
	f.client, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.tolvan = pnr.MustParse("191212121212", pnr.Personnummer)
	s := "19800101000"
	f.unknown = pnr.MustParse(s+string(pnr.CheckDigit(s)), pnr.Personnummer)
	return f
}

func (f *fixture) faults(t testing.TB, fl standin.Faults) {
	t.Helper()
	if err := f.standin.SetFaults(fl); err != nil {
		t.Fatal(err)
	}
}

func unavailable(t *testing.T, err error) *UnavailableError {
	t.Helper()
	if !errors.Is(err, registry.ErrUnavailable) || errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("want only ErrUnavailable, got %v", err)
	}
	var ue *UnavailableError
	if !errors.As(err, &ue) {
		t.Fatalf("not an *UnavailableError: %v", err)
	}
	return ue
}

func TestFoundAndNotFound(t *testing.T) {
	f := newFixture(t, fast(), standin.Options{})
	ctx := context.Background()
	p, err := f.client.Lookup(ctx, f.tolvan)
	if err != nil {
		t.Fatal(err)
	}
	if p.GivenName != "Tolvan" || p.FamilyName != "Tolvansson" || p.BirthDate != "1912-12-12" {
		t.Fatalf("got %+v", p)
	}
	// Every development person comes through with all its fields.
	reg, _ := fileregister.Open("", now)
	for _, r := range reg.Residents() {
		got, err := f.client.Lookup(ctx, r.Number)
		if err != nil || got != r.Person {
			t.Fatalf("%s: %+v %v, want %+v", r.Number, got, err, r.Person)
		}
	}

	before := f.standin.Stats().Lookups
	for range 10 {
		_, err = f.client.Lookup(ctx, f.unknown)
		if !errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrUnavailable) {
			t.Fatalf("unknown: %v", err)
		}
	}
	if got := f.standin.Stats().Lookups - before; got != 10 {
		t.Fatalf("10 not-found look-ups made %d requests; not-found must be neither retried nor cached", got)
	}
	if strings.Contains(err.Error(), f.unknown.Digits()) {
		t.Fatalf("error shows the number: %v", err)
	}
	if s := f.client.State(); s.Status != "up" || s.Breaker != BreakerClosed {
		t.Fatalf("not-found answers changed the state: %+v", s)
	}
}

func TestNotFoundNeverOpensTheBreaker(t *testing.T) {
	o := fast()
	o.BreakerFailures = 1
	f := newFixture(t, o, standin.Options{})
	f.faults(t, standin.Faults{NotFound: true})
	for range 5 {
		_, err := f.client.Lookup(context.Background(), f.tolvan)
		if !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("forced not found: %v", err)
		}
	}
	if s := f.client.State(); s.Status != "up" || s.Breaker != BreakerClosed {
		t.Fatalf("state %+v", s)
	}
	if got := f.standin.Stats().Lookups; got != 5 {
		t.Fatalf("%d requests", got)
	}
	if len(f.trans.list()) != 0 {
		t.Fatalf("transitions %v", f.trans.list())
	}
}

// TestRetriesOnlyIdempotentFailures counts the requests the stand-in receives per Lookup.
func TestRetriesOnlyIdempotentFailures(t *testing.T) {
	cases := []struct {
		name     string
		faults   standin.Faults
		token    string // required by the stand-in
		requests int64
		reason   Reason
		status   int
	}{
		{"503 retried", standin.Faults{ErrorRate: 1, ErrorStatus: 503}, "", 3, ReasonStatus, 503},
		{"502 retried", standin.Faults{ErrorRate: 1, ErrorStatus: 502}, "", 3, ReasonStatus, 502},
		{"504 retried", standin.Faults{ErrorRate: 1, ErrorStatus: 504}, "", 3, ReasonStatus, 504},
		{"500 not retried", standin.Faults{ErrorRate: 1, ErrorStatus: 500}, "", 1, ReasonStatus, 500},
		{"401 not retried", standin.Faults{}, "secret", 1, ReasonStatus, 401},
		{"outage retried", standin.Faults{Outage: true}, "", 3, ReasonConnection, 0},
		{"hang not retried", standin.Faults{Timeout: true}, "", 1, ReasonTimeout, 0},
		{"latency over the timeout not retried", standin.Faults{Latency: 2 * time.Second}, "", 1, ReasonTimeout, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := fast()
			// Long enough that every attempt reaches the stand-in before it times out, even
			// on a loaded machine, so that the stand-in's count is exact.
			o.Timeout = 500 * time.Millisecond
			f := newFixture(t, o, standin.Options{Token: tc.token})
			f.faults(t, tc.faults)
			_, err := f.client.Lookup(context.Background(), f.tolvan)
			ue := unavailable(t, err)
			if ue.Reason != tc.reason || ue.Status != tc.status {
				t.Errorf("reason %s status %d, want %s %d (%v)", ue.Reason, ue.Status, tc.reason, tc.status, err)
			}
			if got := f.standin.Stats().Lookups; got != tc.requests || int64(ue.Attempts) != tc.requests {
				t.Errorf("%d requests, %d attempts; want %d", got, ue.Attempts, tc.requests)
			}
			wantState := "degraded"
			if !ue.Outage() {
				wantState = "down" // a register that refuses the service is unusable until fixed
			}
			if s := f.client.State(); s.Status != wantState || s.Breaker != BreakerClosed {
				t.Errorf("state after failures %+v, want %s", s, wantState)
			}
			if ue.Outage() != registry.Outage(err) {
				t.Errorf("registry.Outage disagrees with the error's own Outage")
			}
		})
	}
}

func TestLatencyWithinTheTimeoutSucceeds(t *testing.T) {
	o := fast()
	o.Timeout = 2 * time.Second
	f := newFixture(t, o, standin.Options{})
	f.faults(t, standin.Faults{Latency: 20 * time.Millisecond})
	if _, err := f.client.Lookup(context.Background(), f.tolvan); err != nil {
		t.Fatal(err)
	}
}

func TestPartialErrorRateRecoversByRetry(t *testing.T) {
	// The stand-in's draws: fail, fail, succeed.
	draws := []float64{0.1, 0.2, 0.9}
	var mu sync.Mutex
	next := func() float64 {
		mu.Lock()
		defer mu.Unlock()
		d := draws[0]
		draws = draws[1:]
		return d
	}
	f := newFixture(t, fast(), standin.Options{Rand: next})
	f.faults(t, standin.Faults{ErrorRate: 0.5})
	p, err := f.client.Lookup(context.Background(), f.tolvan)
	if err != nil || p.GivenName != "Tolvan" {
		t.Fatalf("%+v %v", p, err)
	}
	if st := f.standin.Stats(); st.Lookups != 3 || st.Errors != 2 || st.Found != 1 {
		t.Fatalf("stats %+v", st)
	}
	if s := f.client.State(); s.Status != "up" {
		t.Fatalf("a success after failures should leave the register up: %+v", s)
	}
}

func TestTokenSent(t *testing.T) {
	o := fast()
	o.Token = "s3cret"
	f := newFixture(t, o, standin.Options{Token: "s3cret"})
	if _, err := f.client.Lookup(context.Background(), f.tolvan); err != nil {
		t.Fatal(err)
	}
}

func TestBudgetBoundsTheLookup(t *testing.T) {
	o := fast()
	o.Timeout = 10 * time.Second // longer than the budget: the budget must win
	o.Budget = 500 * time.Millisecond
	f := newFixture(t, o, standin.Options{})
	f.faults(t, standin.Faults{Timeout: true})
	start := time.Now()
	_, err := f.client.Lookup(context.Background(), f.tolvan)
	elapsed := time.Since(start)
	ue := unavailable(t, err)
	if ue.Reason != ReasonTimeout {
		t.Fatalf("reason %s", ue.Reason)
	}
	if got := f.standin.Stats().Hung; got != 1 {
		t.Fatalf("%d attempts within a budget that only fits one", got)
	}
	if elapsed > 5*time.Second { // generous: the attempt timeout alone would be 10s
		t.Fatalf("look-up took %s, budget 500ms", elapsed)
	}
}

func TestUnreachableRegisterOpensTheBreakerThenFailsFast(t *testing.T) {
	o := fast()
	o.BreakerFailures = 3
	o.Timeout = 500 * time.Millisecond
	o.Budget = 5 * time.Second
	f := newFixture(t, o, standin.Options{})
	f.faults(t, standin.Faults{Timeout: true})

	// Each of the first three look-ups pays one attempt timeout (a timed-out attempt is not
	// retried); the third failure opens the breaker.
	for i := range 3 {
		_, err := f.client.Lookup(context.Background(), f.tolvan)
		if ue := unavailable(t, err); ue.Reason != ReasonTimeout || ue.Attempts != 1 {
			t.Fatalf("look-up %d: %s after %d attempts", i, ue.Reason, ue.Attempts)
		}
	}
	if got := f.standin.Stats().Lookups; got != 3 {
		t.Fatalf("%d requests", got)
	}
	if s := f.client.State(); s.Status != "down" || s.Breaker != BreakerOpen || !strings.Contains(s.Detail, "timeout") {
		t.Fatalf("state %+v", s)
	}
	if tr := f.trans.list(); len(tr) != 1 || tr[0] != "closed>open" {
		t.Fatalf("transitions %v", tr)
	}

	// From then on every look-up fails at once, without a request.
	for range 20 {
		_, err := f.client.Lookup(context.Background(), f.unknown)
		ue := unavailable(t, err)
		if ue.Reason != ReasonBreakerOpen || ue.Attempts != 0 || !errors.Is(err, gobreaker.ErrOpenState) {
			t.Fatalf("open breaker: %v", err)
		}
	}
	if got := f.standin.Stats().Lookups; got != 3 {
		t.Fatalf("the open breaker let %d more requests through", got-3)
	}
}

func TestBreakerOpensWithinALookupAndStopsItsRetries(t *testing.T) {
	o := fast()
	o.BreakerFailures = 2
	o.MaxAttempts = 5
	f := newFixture(t, o, standin.Options{})
	f.faults(t, standin.Faults{Outage: true})
	_, err := f.client.Lookup(context.Background(), f.tolvan)
	ue := unavailable(t, err)
	if ue.Reason != ReasonBreakerOpen || ue.Attempts != 2 {
		t.Fatalf("reason %s after %d attempts: %v", ue.Reason, ue.Attempts, err)
	}
	if !errors.Is(err, gobreaker.ErrOpenState) {
		t.Fatalf("cause lost: %v", err)
	}
	if got := f.standin.Stats().Dropped; got != 2 {
		t.Fatalf("%d requests, the breaker should have stopped at 2", got)
	}
}

func TestBreakerRecoversWhenTheRegisterHeals(t *testing.T) {
	o := fast()
	o.BreakerFailures = 1
	o.MaxAttempts = 1
	o.BreakerCooldown = 50 * time.Millisecond
	f := newFixture(t, o, standin.Options{})
	ctx := context.Background()

	f.faults(t, standin.Faults{ErrorRate: 1})
	unavailable(t, func() error { _, err := f.client.Lookup(ctx, f.tolvan); return err }())
	if s := f.client.State(); s.Breaker != BreakerOpen {
		t.Fatalf("state %+v", s)
	}

	// Still failing after the cool-down: the half-open probe fails and the breaker reopens.
	waitForBreaker(t, f.client, BreakerHalfOpen)
	if s := f.client.State(); s.Status != "degraded" {
		t.Fatalf("half-open state %+v", s)
	}
	unavailable(t, func() error { _, err := f.client.Lookup(ctx, f.tolvan); return err }())
	if s := f.client.State(); s.Breaker != BreakerOpen {
		t.Fatalf("failed probe should reopen: %+v", s)
	}

	// Healed: the next probe succeeds and closes the breaker.
	f.standin.ClearFaults()
	waitForBreaker(t, f.client, BreakerHalfOpen)
	p, err := f.client.Lookup(ctx, f.tolvan)
	if err != nil || p.GivenName != "Tolvan" {
		t.Fatalf("probe: %+v %v", p, err)
	}
	if s := f.client.State(); s.Status != "up" || s.Breaker != BreakerClosed {
		t.Fatalf("healed state %+v", s)
	}
	want := []string{"closed>open", "open>half-open", "half-open>open", "open>half-open", "half-open>closed"}
	if got := f.trans.list(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("transitions %v, want %v", got, want)
	}
}

func TestHalfOpenLetsOneProbeThrough(t *testing.T) {
	o := fast()
	o.BreakerFailures = 1
	o.MaxAttempts = 1
	o.Timeout = 5 * time.Second
	o.BreakerCooldown = 50 * time.Millisecond
	f := newFixture(t, o, standin.Options{})
	ctx := context.Background()
	f.faults(t, standin.Faults{Outage: true})
	unavailable(t, func() error { _, err := f.client.Lookup(ctx, f.tolvan); return err }())
	waitForBreaker(t, f.client, BreakerHalfOpen)

	// The probe is held by the stand-in; meanwhile other look-ups fail at once.
	f.faults(t, standin.Faults{Latency: 300 * time.Millisecond})
	probe := make(chan error, 1)
	go func() { _, err := f.client.Lookup(ctx, f.tolvan); probe <- err }()
	for f.standin.Stats().Lookups < 2 {
		time.Sleep(time.Millisecond)
	}
	_, err := f.client.Lookup(ctx, f.unknown)
	if ue := unavailable(t, err); ue.Reason != ReasonBreakerOpen || !errors.Is(err, gobreaker.ErrTooManyRequests) {
		t.Fatalf("second look-up during the probe: %v", err)
	}
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if got := f.standin.Stats().Lookups; got != 2 {
		t.Fatalf("%d requests, want the failure and the probe only", got)
	}
	if s := f.client.State(); s.Breaker != BreakerClosed {
		t.Fatalf("state %+v", s)
	}
}

func waitForBreaker(t *testing.T, c *Client, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.State().Breaker != want {
		if time.Now().After(deadline) {
			t.Fatalf("breaker never became %s: %+v", want, c.State())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCallerCancellationIsNotARegisterFailure(t *testing.T) {
	o := fast()
	o.BreakerFailures = 1
	o.Timeout = 5 * time.Second
	o.Budget = 10 * time.Second
	f := newFixture(t, o, standin.Options{})
	f.faults(t, standin.Faults{Timeout: true})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for f.standin.Stats().Hung == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := f.client.Lookup(ctx, f.tolvan)
	ue := unavailable(t, err)
	if ue.Reason != ReasonCancelled {
		t.Fatalf("reason %s", ue.Reason)
	}
	if got := f.standin.Stats().Lookups; got != 1 {
		t.Fatalf("a cancelled look-up was retried: %d requests", got)
	}
	if s := f.client.State(); s.Breaker != BreakerClosed || s.Status != "up" {
		t.Fatalf("cancellation counted against the register: %+v", s)
	}
}

func TestCallerDeadlineCountsAsAFailure(t *testing.T) {
	o := fast()
	o.BreakerFailures = 1
	o.Timeout = 5 * time.Second
	o.Budget = 10 * time.Second
	f := newFixture(t, o, standin.Options{})
	f.faults(t, standin.Faults{Timeout: true})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := f.client.Lookup(ctx, f.tolvan)
	if ue := unavailable(t, err); ue.Reason != ReasonTimeout {
		t.Fatalf("reason %s", ue.Reason)
	}
	if s := f.client.State(); s.Breaker != BreakerOpen {
		t.Fatalf("a register too slow for the caller is failing: %+v", s)
	}
}

func TestCacheTTL(t *testing.T) {
	o := fast()
	o.CacheTTL = time.Minute
	o.MaxAttempts = 1
	f := newFixture(t, o, standin.Options{})
	ctx := context.Background()
	if _, err := f.client.Lookup(ctx, f.tolvan); err != nil {
		t.Fatal(err)
	}
	// Within the TTL the register is not asked, even while it is down.
	f.faults(t, standin.Faults{Outage: true})
	f.clock.Advance(59 * time.Second)
	p, err := f.client.Lookup(ctx, f.tolvan)
	if err != nil || p.GivenName != "Tolvan" {
		t.Fatalf("cached: %+v %v", p, err)
	}
	if got := f.standin.Stats().Lookups; got != 1 {
		t.Fatalf("%d requests, want the cache to answer", got)
	}
	// At the TTL the entry is gone: the register is asked, and its unavailability shows.
	f.clock.Advance(time.Second)
	_, err = f.client.Lookup(ctx, f.tolvan)
	unavailable(t, err)
	if got := f.standin.Stats().Lookups; got != 2 {
		t.Fatalf("%d requests after expiry", got)
	}
	// Unavailability is not cached: once healed, the next look-up goes through.
	f.standin.ClearFaults()
	if _, err := f.client.Lookup(ctx, f.tolvan); err != nil {
		t.Fatal(err)
	}
	if got := f.standin.Stats().Lookups; got != 3 {
		t.Fatalf("%d requests after healing", got)
	}
}

func TestCacheDisabled(t *testing.T) {
	o := fast()
	o.CacheTTL = -1
	f := newFixture(t, o, standin.Options{})
	for range 3 {
		if _, err := f.client.Lookup(context.Background(), f.tolvan); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.standin.Stats().Lookups; got != 3 {
		t.Fatalf("%d requests with the cache off", got)
	}
}

// countingServer answers every request with status and body, and counts them.
func countingServer(t *testing.T, status int, body string) (*httptest.Server, func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestContractViolationsAreUnavailable(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		reason Reason
		cause  error
	}{
		{"html 200", 200, "<html>welcome</html>", ReasonMalformed, registerapi.ErrMalformed},
		{"200 without birth date", 200, `{"givenName":"A","familyName":"B"}`, ReasonMalformed, registerapi.ErrMalformed},
		{"bare 404 (wrong URL)", 404, "404 page not found", ReasonStatus, nil},
		{"404 with another code", 404, `{"error":"no-route"}`, ReasonStatus, nil},
		{"redirect not followed", 307, "", ReasonStatus, nil},
		{"400 without the register's body", 400, `bad request`, ReasonStatus, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, count := countingServer(t, tc.status, tc.body)
			o := fast()
			o.URL = srv.URL
			c, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Lookup(context.Background(), pnr.MustParse("191212121212", pnr.Personnummer))
			ue := unavailable(t, err)
			if ue.Reason != tc.reason || (tc.cause != nil && !errors.Is(err, tc.cause)) {
				t.Fatalf("reason %s: %v", ue.Reason, err)
			}
			if count() != 1 {
				t.Fatalf("%d requests: a contract violation is not retried", count())
			}
		})
	}
}

// TestRejectedNumber: the register's named 400 for a number is an answer about that number:
// registry.ErrRejected, not retried, and the register stays up.
func TestRejectedNumber(t *testing.T) {
	srv, count := countingServer(t, 400, `{"error":"bad-request","detail":"invalid number"}`)
	o := fast()
	o.URL = srv.URL
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Lookup(context.Background(), pnr.MustParse("191212121212", pnr.Personnummer))
	if !errors.Is(err, registry.ErrRejected) || errors.Is(err, registry.ErrUnavailable) || registry.Outage(err) {
		t.Fatalf("named 400: %v", err)
	}
	if count() != 1 {
		t.Fatalf("%d requests for a rejected number", count())
	}
	if s := c.State(); s.Status != "up" {
		t.Fatalf("state after a rejected number %+v", s)
	}
}

func TestRefusedConnection(t *testing.T) {
	// A port that was just free: nothing listens on it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	o := fast()
	o.URL = "http://" + addr
	o.BreakerFailures = 3
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Lookup(context.Background(), pnr.MustParse("191212121212", pnr.Personnummer))
	ue := unavailable(t, err)
	if ue.Reason != ReasonConnection || ue.Attempts != 3 {
		t.Fatalf("reason %s attempts %d: %v", ue.Reason, ue.Attempts, err)
	}
	if s := c.State(); s.Status != "down" {
		t.Fatalf("state %+v", s)
	}
	// The error is logged by the issuer when it falls back: it names neither the number nor the
	// birth date it begins with.
	if strings.Contains(err.Error(), "19121212") {
		t.Fatalf("the error names the person: %v", err)
	}
}

func TestNumberTravelsInTheBodyOnly(t *testing.T) {
	var mu sync.Mutex
	var method, path, query, auth, body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		method, path, query, auth, body = r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), string(b)
		mu.Unlock()
		w.WriteHeader(404)
		_, _ = io.WriteString(w, `{"error":"not-found"}`)
	}))
	t.Cleanup(srv.Close)
	o := fast()
	o.URL = srv.URL + "/base/"
	o.Token = "tok"
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	n := pnr.MustParse("191212121212", pnr.Personnummer)
	if _, err := c.Lookup(context.Background(), n); !errors.Is(err, registry.ErrNotFound) {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if method != http.MethodPost || path != "/base/v1/lookup" || query != "" || auth != "Bearer tok" {
		t.Fatalf("%s %s?%s auth %q", method, path, query, auth)
	}
	if body != `{"personnummer":"191212121212"}` {
		t.Fatalf("body %s", body)
	}
}

func TestNew(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8090", "ftp://x", "http://", "http://x/?a=1"} {
		if _, err := New(Options{URL: u}); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
	if _, err := New(Options{URL: "http://x", MaxAttempts: -1}); err == nil {
		t.Error("negative attempts accepted")
	}
	c, err := New(Options{URL: "https://register.example"})
	if err != nil {
		t.Fatal(err)
	}
	if s := c.State(); s.Status != "up" || s.Breaker != BreakerClosed {
		t.Fatalf("fresh state %+v", s)
	}
}

func TestOptionsFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	o, err := OptionsFromEnv(env(map[string]string{
		EnvURL: "http://127.0.0.1:8090", EnvToken: "t", EnvTimeout: "750ms", EnvBudget: "4s",
		EnvAttempts: "2", EnvBreakerFailures: "4", EnvBreakerCooldown: "30s", EnvCacheTTL: "0", EnvCacheSize: "50",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if o.URL != "http://127.0.0.1:8090" || o.Token != "t" || o.Timeout != 750*time.Millisecond || o.Budget != 4*time.Second ||
		o.MaxAttempts != 2 || o.BreakerFailures != 4 || o.BreakerCooldown != 30*time.Second || o.CacheTTL >= 0 || o.CacheSize != 50 {
		t.Fatalf("%+v", o)
	}
	_, err = OptionsFromEnv(env(map[string]string{EnvTimeout: "soon", EnvAttempts: "0", EnvBudget: "-1s"}))
	if err == nil {
		t.Fatal("bad environment accepted")
	}
	for _, name := range []string{EnvURL, EnvTimeout, EnvAttempts, EnvBudget} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	dir := t.TempDir()
	path := dir + "/token"
	if err := os.WriteFile(path, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err = OptionsFromEnv(env(map[string]string{EnvURL: "http://x", EnvTokenFile: path}))
	if err != nil || o.Token != "from-file" {
		t.Fatalf("%q %v", o.Token, err)
	}
	if _, err := OptionsFromEnv(env(map[string]string{EnvURL: "http://x", EnvTokenFile: path, EnvToken: "t"})); err == nil {
		t.Fatal("both token variables accepted")
	}
}

// TestProbeMovesState: with no look-ups at all, the probe alone takes the register's state from
// up to degraded and down when the register goes away, and back to up when it returns; the
// probe never touches the cache, and a register answering "not found" is up.
func TestProbeMovesState(t *testing.T) {
	o := fast()
	o.BreakerFailures = 2
	o.BreakerCooldown = 50 * time.Millisecond
	f := newFixture(t, o, standin.Options{})
	ctx := context.Background()
	if err := f.client.Probe(ctx); err != nil || f.client.State().Status != "up" {
		t.Fatalf("healthy: %v %+v", err, f.client.State())
	}
	f.faults(t, standin.Faults{NotFound: true})
	if err := f.client.Probe(ctx); err != nil || f.client.State().Status != "up" {
		t.Fatalf("not found is an answer: %v %+v", err, f.client.State())
	}
	f.faults(t, standin.Faults{Outage: true})
	if err := f.client.Probe(ctx); err == nil || f.client.State().Status != "degraded" {
		t.Fatalf("first failed probe: %v %+v", err, f.client.State())
	}
	if err := f.client.Probe(ctx); err == nil || f.client.State().Status != "down" {
		t.Fatalf("second failed probe: %v %+v, want the breaker open", err, f.client.State())
	}
	f.faults(t, standin.Faults{})
	time.Sleep(60 * time.Millisecond) // the breaker's cool-down
	if err := f.client.Probe(ctx); err != nil || f.client.State().Status != "up" {
		t.Fatalf("register back: %v %+v", err, f.client.State())
	}
	if f.client.cache != nil && f.client.cache.Len() != 0 {
		t.Errorf("the probe filled the cache")
	}
	if got := f.standin.Stats().Lookups; got < 4 {
		t.Errorf("%d requests reached the register, want one per probe that passed the breaker", got)
	}
}

// TestGarbledAnswerIsMalformed: the stand-in's garble fault (200 with a broken body) reaches the
// client as a malformed response, not retried and not an outage.
func TestGarbledAnswerIsMalformed(t *testing.T) {
	f := newFixture(t, fast(), standin.Options{})
	f.faults(t, standin.Faults{Garble: true})
	_, err := f.client.Lookup(context.Background(), f.tolvan)
	ue := unavailable(t, err)
	if ue.Reason != ReasonMalformed || registry.Outage(err) {
		t.Fatalf("reason %s outage %v: %v", ue.Reason, registry.Outage(err), err)
	}
	if got := f.standin.Stats(); got.Lookups != 1 || got.Errors != 1 {
		t.Fatalf("stand-in stats %+v", got)
	}
}
