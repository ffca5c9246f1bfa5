// Package metrics exposes the service's Prometheus metrics on a registry the caller provides:
// HTTP traffic per route template, issuances, admission control, the population register's
// health and breaker, store latency, and the Go runtime and process.
//
// Labels carry only bounded, non-personal values: route templates (never raw paths), status
// codes, kinds, environments, identity sources, budget and operation names. No UVCI, request id,
// personnummer or name ever becomes a label.
package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/admission"
	"github.com/sedcc/dcc/registry"
)

const namespace = "dcc"

// Metrics holds the service's collectors. It implements issuer.Metrics.
type Metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpInFlight prometheus.Gauge

	issued *prometheus.CounterVec

	breakerState       *prometheus.GaugeVec
	breakerTransitions *prometheus.CounterVec

	storeDuration *prometheus.HistogramVec
}

var _ issuer.Metrics = (*Metrics)(nil)

// Options configure New.
type Options struct {
	// Clock times requests and store calls (default time.Now).
	Clock func() time.Time
	// NoRuntime leaves out the Go runtime and process collectors (for a registry that has them).
	NoRuntime bool
}

// New registers the service's collectors on reg.
func New(reg *prometheus.Registry, o Options) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: no registry")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	m := &Metrics{
		reg: reg,
		now: o.Clock,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by method, route template and status.",
		}, []string{"method", "route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time from receiving an HTTP request to finishing its answer, by method, route template and status.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"method", "route", "status"}),
		httpInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "certificates_issued_total",
			Help: "Certificates newly signed and stored, by kind, environment and identity source.",
		}, []string{"kind", "environment", "identity_source"}),
		breakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "register", Name: "breaker_state",
			Help: "The population register client's circuit breaker: 1 for its current state, 0 for the others.",
		}, []string{"state"}),
		breakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "register", Name: "breaker_transitions_total",
			Help: "Circuit breaker transitions of the population register client.",
		}, []string{"from", "to"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "store", Name: "operation_duration_seconds",
			Help:    "Time of store operations, by operation and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 14), // 0.25 ms to 2 s
		}, []string{"operation", "outcome"}),
	}
	cs := []prometheus.Collector{m.httpRequests, m.httpDuration, m.httpInFlight, m.issued,
		m.breakerState, m.breakerTransitions, m.storeDuration}
	if !o.NoRuntime {
		cs = append(cs, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register collector: %w", err)
		}
	}
	return m, nil
}

// Handler serves the registry's metrics (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:            m.reg,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// Issued counts one newly issued certificate (issuer.Metrics).
func (m *Metrics) Issued(kind issuer.Kind, env issuer.Environment, source issuer.IdentitySource) {
	m.issued.WithLabelValues(known(string(kind), kinds), known(string(env), environments), known(string(source), sources)).Inc()
}

var (
	kinds        = []string{string(issuer.KindTest), string(issuer.KindRecovery), string(issuer.KindVaccination)}
	environments = []string{string(issuer.Sandbox), string(issuer.Production)}
	sources      = []string{string(issuer.SourceRegister), string(issuer.SourceProvided), string(issuer.SourceFallback)}
	breakers     = []string{"closed", "half-open", "open"}
	statuses     = []string{"up", "degraded", "down"}
	methods      = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions}
)

// known returns v when it is one of the allowed values and "other" otherwise, so that no label
// can grow without bound whatever a caller passes.
func known(v string, allowed []string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return "other"
}

// TrackBreaker starts reporting a circuit breaker, which starts closed, and returns the callback
// to give the register client as its OnStateChange.
func (m *Metrics) TrackBreaker() func(from, to string) {
	m.setBreaker("closed")
	return m.breakerChanged
}

func (m *Metrics) breakerChanged(from, to string) {
	m.breakerTransitions.WithLabelValues(known(from, breakers), known(to, breakers)).Inc()
	m.setBreaker(to)
}

func (m *Metrics) setBreaker(state string) {
	state = known(state, breakers)
	for _, s := range breakers {
		v := 0.0
		if s == state {
			v = 1
		}
		m.breakerState.WithLabelValues(s).Set(v)
	}
	if state == "other" {
		m.breakerState.WithLabelValues("other").Set(1)
	} else {
		m.breakerState.DeleteLabelValues("other")
	}
}

// WatchRegister reports the population register's health, read from state at every scrape, as
// dcc_register_status{status="up|degraded|down"} (1 for the current one).
func (m *Metrics) WatchRegister(state func() registry.State) error {
	if state == nil {
		return errors.New("metrics: no register state function")
	}
	if err := m.reg.Register(registerCollector{state: state}); err != nil {
		return fmt.Errorf("metrics: register the population register's state: %w", err)
	}
	return nil
}

var registerStatusDesc = prometheus.NewDesc(namespace+"_register_status",
	"The population register's health: 1 for its current status (up, degraded, down), 0 for the others.",
	[]string{"status"}, nil)

type registerCollector struct{ state func() registry.State }

func (c registerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- registerStatusDesc }

func (c registerCollector) Collect(ch chan<- prometheus.Metric) {
	cur := known(c.state().Status, statuses)
	for _, s := range statuses {
		v := 0.0
		if s == cur {
			v = 1
		}
		constMetric(ch, registerStatusDesc, prometheus.GaugeValue, v, s)
	}
	if cur == "other" {
		constMetric(ch, registerStatusDesc, prometheus.GaugeValue, 1, cur)
	}
}

// WatchLimiters reports the admission limiters, read at every scrape. Call it once with every
// budget.
func (m *Metrics) WatchLimiters(ls ...*admission.Limiter) error {
	seen := map[string]bool{}
	for _, l := range ls {
		if l == nil {
			return errors.New("metrics: nil limiter")
		}
		if seen[l.Name()] {
			return fmt.Errorf("metrics: two limiters named %q", l.Name())
		}
		seen[l.Name()] = true
	}
	if err := m.reg.Register(limiterCollector{ls: append([]*admission.Limiter(nil), ls...)}); err != nil {
		return fmt.Errorf("metrics: register admission limiters: %w", err)
	}
	return nil
}

var (
	admInFlightDesc = prometheus.NewDesc(namespace+"_admission_in_flight",
		"Requests holding an admission slot now, by budget.", []string{"budget"}, nil)
	admWaitingDesc = prometheus.NewDesc(namespace+"_admission_waiting",
		"Requests waiting for an admission slot now, by budget.", []string{"budget"}, nil)
	admLimitDesc = prometheus.NewDesc(namespace+"_admission_limit",
		"Admission slots, by budget.", []string{"budget"}, nil)
	admQueueDesc = prometheus.NewDesc(namespace+"_admission_queue_limit",
		"Requests allowed to wait for a slot, by budget.", []string{"budget"}, nil)
	admAdmittedDesc = prometheus.NewDesc(namespace+"_admission_admitted_total",
		"Requests given an admission slot, by budget.", []string{"budget"}, nil)
	admRejectedDesc = prometheus.NewDesc(namespace+"_admission_rejected_total",
		"Requests refused as overloaded, by budget and reason (queue-full, wait-expired), and requests "+
			"whose client went away while waiting (canceled).", []string{"budget", "reason"}, nil)
)

type limiterCollector struct{ ls []*admission.Limiter }

func (c limiterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{admInFlightDesc, admWaitingDesc, admLimitDesc, admQueueDesc, admAdmittedDesc, admRejectedDesc} {
		ch <- d
	}
}

func (c limiterCollector) Collect(ch chan<- prometheus.Metric) {
	for _, l := range c.ls {
		s := l.Stats()
		constMetric(ch, admInFlightDesc, prometheus.GaugeValue, float64(s.InFlight), s.Name)
		constMetric(ch, admWaitingDesc, prometheus.GaugeValue, float64(s.Waiting), s.Name)
		constMetric(ch, admLimitDesc, prometheus.GaugeValue, float64(s.Limit), s.Name)
		constMetric(ch, admQueueDesc, prometheus.GaugeValue, float64(s.Queue), s.Name)
		constMetric(ch, admAdmittedDesc, prometheus.CounterValue, float64(s.Admitted), s.Name)
		constMetric(ch, admRejectedDesc, prometheus.CounterValue, float64(s.QueueFull), s.Name, admission.QueueFull.String())
		constMetric(ch, admRejectedDesc, prometheus.CounterValue, float64(s.WaitExpired), s.Name, admission.WaitExpired.String())
		constMetric(ch, admRejectedDesc, prometheus.CounterValue, float64(s.Canceled), s.Name, admission.Canceled.String())
	}
}

// constMetric sends one value; a mismatch between desc and labels arrives at the scrape as an
// error instead of a panic.
func constMetric(ch chan<- prometheus.Metric, desc *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(desc, t, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(desc, err)
	}
	ch <- m
}

// HTTPRequest starts counting one HTTP request: the in-flight gauge now, and, when the returned
// function is called with the request's method, route template (never the raw URL) and final
// status, its count and duration. The HTTP layer calls it for every request.
func (m *Metrics) HTTPRequest() (done func(method, route string, status int)) {
	start := m.now()
	m.httpInFlight.Inc()
	return func(method, route string, status int) {
		m.httpInFlight.Dec()
		code := strconv.Itoa(status)
		method = known(method, methods)
		m.httpRequests.WithLabelValues(method, route, code).Inc()
		m.httpDuration.WithLabelValues(method, route, code).Observe(m.now().Sub(start).Seconds())
	}
}
