package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/admission"
	"github.com/sedcc/dcc/issuer/store/embedded"
	"github.com/sedcc/dcc/registry"
)

// stepClock advances by step on every reading, so every timed operation lasts exactly step.
type stepClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

func newMetrics(t *testing.T, step time.Duration) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	clk := &stepClock{t: time.Date(2021, 6, 1, 8, 0, 0, 0, time.UTC), step: step}
	m, err := New(reg, Options{Clock: clk.Now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m, reg
}

func compare(t *testing.T, reg *prometheus.Registry, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
}

func TestNewRegistersRuntimeCollectors(t *testing.T) {
	_, reg := newMetrics(t, time.Millisecond)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if !have[name] {
			t.Errorf("%s missing from the registry", name)
		}
	}
	if _, err := New(reg, Options{}); err == nil {
		t.Error("registering twice on one registry succeeded")
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New without a registry succeeded")
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

func TestIssued(t *testing.T) {
	m, reg := newMetrics(t, time.Millisecond)
	var im issuer.Metrics = m
	im.Issued(issuer.KindTest, issuer.Sandbox, issuer.SourceRegister)
	im.Issued(issuer.KindTest, issuer.Sandbox, issuer.SourceRegister)
	im.Issued(issuer.KindVaccination, issuer.Production, issuer.SourceFallback)
	im.Issued(issuer.Kind("191212121212"), issuer.Sandbox, issuer.SourceProvided) // never a label
	compare(t, reg, `
# HELP dcc_certificates_issued_total Certificates newly signed and stored, by kind, environment and identity source.
# TYPE dcc_certificates_issued_total counter
dcc_certificates_issued_total{environment="production",identity_source="birthdate-fallback",kind="vaccination"} 1
dcc_certificates_issued_total{environment="sandbox",identity_source="provided",kind="other"} 1
dcc_certificates_issued_total{environment="sandbox",identity_source="register",kind="test"} 2
`, "dcc_certificates_issued_total")
}

func TestHTTPRequest(t *testing.T) {
	m, reg := newMetrics(t, 5*time.Millisecond)
	for range 2 {
		m.HTTPRequest()(http.MethodGet, "/api/v1/me/certificates/:uvci", http.StatusOK)
	}
	m.HTTPRequest()(http.MethodPost, "/observation", http.StatusUnprocessableEntity)
	m.HTTPRequest()("BREW", "unmatched", http.StatusNotFound)
	held := m.HTTPRequest()
	if v := testutil.ToFloat64(m.httpInFlight); v != 1 {
		t.Fatalf("in-flight gauge %v with one request open", v)
	}
	held(http.MethodGet, "/ping", http.StatusOK)
	compare(t, reg, `
# HELP dcc_http_requests_total HTTP requests answered, by method, route template and status.
# TYPE dcc_http_requests_total counter
dcc_http_requests_total{method="GET",route="/api/v1/me/certificates/:uvci",status="200"} 2
dcc_http_requests_total{method="GET",route="/ping",status="200"} 1
dcc_http_requests_total{method="POST",route="/observation",status="422"} 1
dcc_http_requests_total{method="other",route="unmatched",status="404"} 1
`, "dcc_http_requests_total")

	// Every request took exactly one clock step (5 ms): all in the 0.005 bucket.
	body := scrape(t, m)
	if !strings.Contains(body, `dcc_http_request_duration_seconds_bucket{method="GET",route="/api/v1/me/certificates/:uvci",status="200",le="0.005"} 2`) {
		t.Fatalf("latency not recorded as 5 ms:\n%s", grep(body, "dcc_http_request_duration"))
	}
	if v := testutil.ToFloat64(m.httpInFlight); v != 0 {
		t.Fatalf("in-flight gauge %v after every request ended", v)
	}
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	b, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestAdmissionLimiters(t *testing.T) {
	m, reg := newMetrics(t, time.Millisecond)
	issue, err := admission.New(admission.Config{Name: "issue", Limit: 2, Queue: 0})
	if err != nil {
		t.Fatal(err)
	}
	citizen, err := admission.New(admission.Config{Name: "citizen", Limit: 8, Queue: 4, Wait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WatchLimiters(issue, citizen); err != nil {
		t.Fatalf("WatchLimiters: %v", err)
	}
	t1, _, _ := issue.Acquire(context.Background())
	t2, _, _ := issue.Acquire(context.Background())
	for range 3 {
		if tk, _, _ := issue.Acquire(context.Background()); tk != nil {
			t.Fatal("admitted past the limit")
		}
	}
	t1.Release()
	defer t2.Release()
	compare(t, reg, `
# HELP dcc_admission_in_flight Requests holding an admission slot now, by budget.
# TYPE dcc_admission_in_flight gauge
dcc_admission_in_flight{budget="citizen"} 0
dcc_admission_in_flight{budget="issue"} 1
# HELP dcc_admission_limit Admission slots, by budget.
# TYPE dcc_admission_limit gauge
dcc_admission_limit{budget="citizen"} 8
dcc_admission_limit{budget="issue"} 2
# HELP dcc_admission_queue_limit Requests allowed to wait for a slot, by budget.
# TYPE dcc_admission_queue_limit gauge
dcc_admission_queue_limit{budget="citizen"} 4
dcc_admission_queue_limit{budget="issue"} 0
# HELP dcc_admission_admitted_total Requests given an admission slot, by budget.
# TYPE dcc_admission_admitted_total counter
dcc_admission_admitted_total{budget="citizen"} 0
dcc_admission_admitted_total{budget="issue"} 2
# HELP dcc_admission_rejected_total Requests refused as overloaded, by budget and reason (queue-full, wait-expired), and requests whose client went away while waiting (canceled).
# TYPE dcc_admission_rejected_total counter
dcc_admission_rejected_total{budget="citizen",reason="canceled"} 0
dcc_admission_rejected_total{budget="citizen",reason="queue-full"} 0
dcc_admission_rejected_total{budget="citizen",reason="wait-expired"} 0
dcc_admission_rejected_total{budget="issue",reason="canceled"} 0
dcc_admission_rejected_total{budget="issue",reason="queue-full"} 3
dcc_admission_rejected_total{budget="issue",reason="wait-expired"} 0
# HELP dcc_admission_waiting Requests waiting for an admission slot now, by budget.
# TYPE dcc_admission_waiting gauge
dcc_admission_waiting{budget="citizen"} 0
dcc_admission_waiting{budget="issue"} 0
`, "dcc_admission_in_flight", "dcc_admission_limit", "dcc_admission_queue_limit", "dcc_admission_admitted_total",
		"dcc_admission_rejected_total", "dcc_admission_waiting")

	other, _ := admission.New(admission.Config{Name: "issue", Limit: 1})
	if err := m.WatchLimiters(issue, other); err == nil {
		t.Error("two limiters with one name accepted")
	}
}

func TestBreakerAndRegisterState(t *testing.T) {
	m, reg := newMetrics(t, time.Millisecond)
	onChange := m.TrackBreaker()
	const head = `
# HELP dcc_register_breaker_state The population register client's circuit breaker: 1 for its current state, 0 for the others.
# TYPE dcc_register_breaker_state gauge
`
	compare(t, reg, head+`
dcc_register_breaker_state{state="closed"} 1
dcc_register_breaker_state{state="half-open"} 0
dcc_register_breaker_state{state="open"} 0
`, "dcc_register_breaker_state")
	onChange("closed", "open")
	onChange("open", "half-open")
	onChange("half-open", "open")
	compare(t, reg, head+`
dcc_register_breaker_state{state="closed"} 0
dcc_register_breaker_state{state="half-open"} 0
dcc_register_breaker_state{state="open"} 1
# HELP dcc_register_breaker_transitions_total Circuit breaker transitions of the population register client.
# TYPE dcc_register_breaker_transitions_total counter
dcc_register_breaker_transitions_total{from="closed",to="open"} 1
dcc_register_breaker_transitions_total{from="half-open",to="open"} 1
dcc_register_breaker_transitions_total{from="open",to="half-open"} 1
`, "dcc_register_breaker_state", "dcc_register_breaker_transitions_total")

	var mu sync.Mutex
	state := registry.State{Status: "up"}
	if err := m.WatchRegister(func() registry.State { mu.Lock(); defer mu.Unlock(); return state }); err != nil {
		t.Fatalf("WatchRegister: %v", err)
	}
	const statusHead = `
# HELP dcc_register_status The population register's health: 1 for its current status (up, degraded, down), 0 for the others.
# TYPE dcc_register_status gauge
`
	compare(t, reg, statusHead+`
dcc_register_status{status="degraded"} 0
dcc_register_status{status="down"} 0
dcc_register_status{status="up"} 1
`, "dcc_register_status")
	mu.Lock()
	state = registry.State{Status: "down", Breaker: "open", Detail: "connection refused"}
	mu.Unlock()
	compare(t, reg, statusHead+`
dcc_register_status{status="degraded"} 0
dcc_register_status{status="down"} 1
dcc_register_status{status="up"} 0
`, "dcc_register_status")
}

// failingStore answers every call with err, to see each outcome recorded.
type failingStore struct {
	issuer.Store
	err error
}

func (f failingStore) Principal(context.Context, string) (issuer.Principal, error) {
	return issuer.Principal{}, f.err
}

func TestInstrumentStore(t *testing.T) {
	m, reg := newMetrics(t, 2*time.Millisecond)
	st, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatalf("open embedded store: %v", err)
	}
	s := m.InstrumentStore(st)
	defer s.Close()
	ctx := context.Background()
	p := issuer.Principal{ID: "p1", Name: "load", Role: issuer.RoleProvider, Environment: issuer.Sandbox,
		Kinds: []issuer.Kind{issuer.KindTest}, CreatedAt: time.Date(2021, 6, 1, 8, 0, 0, 0, time.UTC)}
	if err := s.CreatePrincipal(ctx, p); err != nil {
		t.Fatalf("CreatePrincipal: %v", err)
	}
	got, err := s.Principal(ctx, "p1")
	if err != nil || got.Name != "load" {
		t.Fatalf("Principal through the wrapper = %+v, %v", got, err)
	}
	if _, err := s.Principal(ctx, "missing"); !errors.Is(err, issuer.ErrNotFound) {
		t.Fatalf("missing principal: %v, want ErrNotFound passed through", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	for _, e := range []error{
		fmt.Errorf("dial: %w", issuer.ErrStoreUnavailable),
		context.DeadlineExceeded,
		errors.New("constraint"),
	} {
		if _, err := m.InstrumentStore(failingStore{err: e}).Principal(ctx, "x"); !errors.Is(err, e) {
			t.Fatalf("error %v not passed through: %v", e, err)
		}
	}
	compare(t, reg, `
# HELP dcc_store_operation_duration_seconds Time of store operations, by operation and outcome.
# TYPE dcc_store_operation_duration_seconds histogram
`+histogram("CreatePrincipal", "ok", 1)+histogram("Ping", "ok", 1)+
		histogram("Principal", "canceled", 1)+histogram("Principal", "error", 1)+
		histogram("Principal", "not-found", 1)+histogram("Principal", "ok", 1)+
		histogram("Principal", "unavailable", 1), "dcc_store_operation_duration_seconds")
}

// histogram is the exposition of n observations of 2 ms in the store histogram.
func histogram(op, outcome string, n int) string {
	var b strings.Builder
	for _, le := range prometheus.ExponentialBuckets(0.00025, 2, 14) {
		c := 0
		if le >= 0.002 {
			c = n
		}
		fmt.Fprintf(&b, "dcc_store_operation_duration_seconds_bucket{operation=%q,outcome=%q,le=\"%g\"} %d\n", op, outcome, le, c)
	}
	fmt.Fprintf(&b, "dcc_store_operation_duration_seconds_bucket{operation=%q,outcome=%q,le=\"+Inf\"} %d\n", op, outcome, n)
	fmt.Fprintf(&b, "dcc_store_operation_duration_seconds_sum{operation=%q,outcome=%q} %g\n", op, outcome, 0.002*float64(n))
	fmt.Fprintf(&b, "dcc_store_operation_duration_seconds_count{operation=%q,outcome=%q} %d\n", op, outcome, n)
	return b.String()
}

// TestInstrumentStoreCoversInterface: the wrapper has every method of issuer.Store, so a method
// added to the interface cannot be left untimed without this package failing to build; and
// every one of them but Close is timed under its own name.
func TestInstrumentStoreCoversInterface(t *testing.T) {
	m, reg := newMetrics(t, time.Millisecond)
	s := m.InstrumentStore(failingStore{Store: nopStore{}})
	typ := reflect.TypeFor[issuer.Store]()
	v := reflect.ValueOf(s)
	for i := range typ.NumMethod() {
		meth := typ.Method(i)
		fn := v.MethodByName(meth.Name)
		args := make([]reflect.Value, fn.Type().NumIn())
		for j := range args {
			args[j] = reflect.Zero(fn.Type().In(j))
		}
		if len(args) > 0 {
			args[0] = reflect.ValueOf(context.Background())
		}
		fn.Call(args)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	timedOps := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "dcc_store_operation_duration_seconds" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if lp.GetName() == "operation" {
					timedOps[lp.GetValue()] = true
				}
			}
		}
	}
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		if name != "Close" && !timedOps[name] {
			t.Errorf("store operation %s is not timed", name)
		}
	}
}

// nopStore answers every call with zero values.
type nopStore struct{}

func (nopStore) Record(context.Context, issuer.Record) error             { return nil }
func (nopStore) PurgeRequests(context.Context, time.Time) (int64, error) { return 0, nil }
func (nopStore) PurgeAudit(context.Context, time.Time) (int64, error)    { return 0, nil }
func (nopStore) RecordAudit(context.Context, []issuer.AuditEvent) error  { return nil }
func (nopStore) CertificateByIdentifier(context.Context, string, string) (issuer.Certificate, error) {
	return issuer.Certificate{}, nil
}
func (nopStore) CertificateByUVCI(context.Context, string) (issuer.Certificate, error) {
	return issuer.Certificate{}, nil
}
func (nopStore) CertificatesBySubject(context.Context, []byte) ([]issuer.Certificate, error) {
	return nil, nil
}
func (nopStore) Request(context.Context, string, string) (issuer.RequestRecord, error) {
	return issuer.RequestRecord{}, nil
}
func (nopStore) SearchAudit(context.Context, issuer.AuditQuery) (issuer.AuditPage, error) {
	return issuer.AuditPage{}, nil
}
func (nopStore) CreatePrincipal(context.Context, issuer.Principal) error { return nil }
func (nopStore) Principal(context.Context, string) (issuer.Principal, error) {
	return issuer.Principal{}, nil
}
func (nopStore) PrincipalByName(context.Context, string) (issuer.Principal, error) {
	return issuer.Principal{}, nil
}
func (nopStore) ListPrincipals(context.Context) ([]issuer.Principal, error)   { return nil, nil }
func (nopStore) CreateAPIKey(context.Context, issuer.APIKey) error            { return nil }
func (nopStore) APIKey(context.Context, string) (issuer.APIKey, error)        { return issuer.APIKey{}, nil }
func (nopStore) ListAPIKeys(context.Context, string) ([]issuer.APIKey, error) { return nil, nil }
func (nopStore) ExpireAPIKey(context.Context, string, time.Time) error        { return nil }
func (nopStore) RevokeAPIKey(context.Context, string, time.Time) error        { return nil }
func (nopStore) CreateClientCert(context.Context, issuer.ClientCert) error    { return nil }
func (nopStore) ClientCert(context.Context, []byte) (issuer.ClientCert, error) {
	return issuer.ClientCert{}, nil
}
func (nopStore) ListClientCerts(context.Context, string) ([]issuer.ClientCert, error) {
	return nil, nil
}
func (nopStore) RevokeClientCert(context.Context, []byte, time.Time) error { return nil }
func (nopStore) Ping(context.Context) error                                { return nil }
func (nopStore) Close() error                                              { return nil }
func (nopStore) OpenIncident(context.Context, issuer.StatusEvent) error    { return nil }
func (nopStore) OpenIncidentFor(context.Context, string) (issuer.StatusEvent, error) {
	return issuer.StatusEvent{}, nil
}
func (nopStore) PostNotice(context.Context, issuer.StatusEvent) error      { return nil }
func (nopStore) CloseStatusEvent(context.Context, string, time.Time) error { return nil }
func (nopStore) StatusEvents(context.Context, time.Time, int) ([]issuer.StatusEvent, error) {
	return nil, nil
}

func (nopStore) Revoke(context.Context, issuer.Revocation, issuer.AuditEvent) (issuer.Revocation, bool, error) {
	return issuer.Revocation{}, false, nil
}
func (nopStore) Revocation(context.Context, string) (issuer.Revocation, error) {
	return issuer.Revocation{}, nil
}
func (nopStore) RevokedAmong(context.Context, []string) (map[string]bool, error) { return nil, nil }
func (nopStore) Revocations(context.Context, time.Time) ([]issuer.Revocation, error) {
	return nil, nil
}
func (nopStore) RecordSigningCertificate(context.Context, issuer.SigningCertificate) error {
	return nil
}
func (nopStore) SigningCertificates(context.Context) ([]issuer.SigningCertificate, error) {
	return nil, nil
}
func (nopStore) ReserveQueueSlots(context.Context, int, time.Time, time.Duration) (issuer.QueueBlock, error) {
	return issuer.QueueBlock{}, nil
}
