// Package standin holds a stand-in population register server: it speaks the register's HTTP
// contract (registry/registerapi) over any registry.Register, and injects faults switched at run
// time (added latency, errors, hanging requests, a full outage, forced "not found"), either
// over its admin endpoint or through the Server's methods for in-process tests.
//
// Routes:
//
//	POST   /v1/lookup     the register contract
//	GET    /healthz       the stand-in's own liveness (never faulted)
//	GET    /admin/faults  the faults in force
//	POST   /admin/faults  replace them (JSON Faults; fields left out are off)
//	DELETE /admin/faults  clear them
//	GET    /admin/stats   request counters
package standin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sedcc/dcc/registry"
	"github.com/sedcc/dcc/registry/fileregister"
	"github.com/sedcc/dcc/registry/registerapi"
)

// MaxLatency bounds the injected latency, and MaxHang how long a "timeout" fault holds a
// request whose client never gives up.
const (
	MaxLatency = 5 * time.Minute
	MaxHang    = 10 * time.Minute
)

// Faults are the failures the stand-in injects into look-ups. The zero value injects none.
// They apply in this order: Outage, Timeout, Latency, then ErrorRate, then Garble, then NotFound.
type Faults struct {
	// Latency is added before every look-up is answered.
	Latency time.Duration
	// ErrorRate is the share of look-ups (0 to 1) answered with ErrorStatus.
	ErrorRate float64
	// ErrorStatus is the status of injected errors: 500, 502, 503 (the default) or 504.
	ErrorStatus int
	// Timeout holds every look-up without an answer until the client gives up.
	Timeout bool
	// Outage closes every look-up's connection without an answer.
	Outage bool
	// NotFound answers every look-up with the register's 404 "not-found".
	NotFound bool
	// Garble answers every look-up 200 with a body that is not the contract's JSON, as a broken
	// proxy or a half-deployed register does.
	Garble bool
}

// faultsJSON is the admin endpoint's body: Faults with the latency as a Go duration string.
type faultsJSON struct {
	Latency     string  `json:"latency,omitempty"`
	ErrorRate   float64 `json:"errorRate,omitempty"`
	ErrorStatus int     `json:"errorStatus,omitempty"`
	Timeout     bool    `json:"timeout,omitempty"`
	Outage      bool    `json:"outage,omitempty"`
	NotFound    bool    `json:"notFound,omitempty"`
	Garble      bool    `json:"garble,omitempty"`
}

// MarshalJSON writes the admin endpoint's form, e.g. {"latency":"2s","errorRate":0.5}.
func (f Faults) MarshalJSON() ([]byte, error) {
	j := faultsJSON{ErrorRate: f.ErrorRate, ErrorStatus: f.ErrorStatus, Timeout: f.Timeout, Outage: f.Outage, NotFound: f.NotFound, Garble: f.Garble}
	if f.Latency > 0 {
		j.Latency = f.Latency.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the admin endpoint's form; unknown fields are refused, so a misspelt
// switch is not silently ignored.
func (f *Faults) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j faultsJSON
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	var lat time.Duration
	if j.Latency != "" {
		d, err := time.ParseDuration(j.Latency)
		if err != nil {
			return fmt.Errorf("faults: latency %q is not a duration such as 2s", j.Latency)
		}
		lat = d
	}
	*f = Faults{Latency: lat, ErrorRate: j.ErrorRate, ErrorStatus: j.ErrorStatus, Timeout: j.Timeout, Outage: j.Outage, NotFound: j.NotFound, Garble: j.Garble}
	return nil
}

// Validate reports switches out of range.
func (f Faults) Validate() error {
	var problems []error
	if f.Latency < 0 || f.Latency > MaxLatency {
		problems = append(problems, fmt.Errorf("latency must be between 0 and %s", MaxLatency))
	}
	if f.ErrorRate < 0 || f.ErrorRate > 1 {
		problems = append(problems, errors.New("errorRate must be between 0 and 1"))
	}
	switch f.ErrorStatus {
	case 0, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
	default:
		problems = append(problems, errors.New("errorStatus must be 500, 502, 503 or 504"))
	}
	return errors.Join(problems...)
}

// Stats counts look-up requests by what the stand-in did with them.
type Stats struct {
	// Lookups is every request that reached POST /v1/lookup.
	Lookups int64 `json:"lookups"`
	// Found and NotFound count answers from the population (NotFound includes forced ones).
	Found    int64 `json:"found"`
	NotFound int64 `json:"notFound"`
	// Errors counts injected error statuses and garbled answers; Dropped connections closed by an outage; Hung
	// requests held by a timeout fault; Rejected bad requests and bad tokens.
	Errors   int64 `json:"errors"`
	Dropped  int64 `json:"dropped"`
	Hung     int64 `json:"hung"`
	Rejected int64 `json:"rejected"`
}

// Options configures a Server.
type Options struct {
	// Register is the population served; required (fileregister.Open gives one).
	Register registry.Register
	// Token, when set, is the bearer token look-ups must carry.
	Token string
	// AdminToken, when set, is the bearer token the admin endpoints require; when empty they
	// are open, which is meant for a stand-in bound to the loopback interface.
	AdminToken string
	// Clock gives the time numbers are validated at; nil means time.Now.
	Clock func() time.Time
	// Rand draws the injected errors, uniform in [0, 1); nil means math/rand/v2.
	Rand func() float64
	// Logger receives one line per look-up with its outcome, never the number or a name;
	// nil discards.
	Logger *slog.Logger
}

// Server is the stand-in; it is an http.Handler and safe for concurrent use.
type Server struct {
	reg        registry.Register
	token      string
	adminToken string
	now        func() time.Time
	rand       func() float64
	log        *slog.Logger
	mux        *http.ServeMux

	mu     sync.Mutex
	faults Faults

	closeOnce sync.Once
	closed    chan struct{}

	lookups, found, notFound, errs, dropped, hung, rejected atomic.Int64
}

// New builds a Server.
func New(o Options) (*Server, error) {
	if o.Register == nil {
		return nil, errors.New("stand-in register: no population")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		reg:        o.Register,
		token:      o.Token,
		adminToken: o.AdminToken,
		now:        o.Clock,
		rand:       o.Rand,
		log:        o.Logger,
		closed:     make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+registerapi.LookupPath, s.lookup)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /admin/faults", s.admin(s.getFaults))
	mux.HandleFunc("POST /admin/faults", s.admin(s.postFaults))
	mux.HandleFunc("DELETE /admin/faults", s.admin(s.deleteFaults))
	mux.HandleFunc("GET /admin/stats", s.admin(s.getStats))
	s.mux = mux
	return s, nil
}

// ServeHTTP serves the routes listed in the package comment.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// SetFaults replaces the faults in force.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
	s.log.Info("stand-in register faults set", "faults", f.summary())
	return nil
}

// Faults returns the faults in force.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// ClearFaults switches every fault off.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = Faults{}
	s.mu.Unlock()
	s.log.Info("stand-in register faults cleared")
}

// Stats returns the request counters since the Server was built.
func (s *Server) Stats() Stats {
	return Stats{
		Lookups:  s.lookups.Load(),
		Found:    s.found.Load(),
		NotFound: s.notFound.Load(),
		Errors:   s.errs.Load(),
		Dropped:  s.dropped.Load(),
		Hung:     s.hung.Load(),
		Rejected: s.rejected.Load(),
	}
}

// Close releases every request held by a timeout fault or a latency, so that a graceful
// shutdown does not wait for them. The Server answers 503 to look-ups from then on.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

func (f Faults) summary() string {
	b, err := json.Marshal(f)
	if err != nil {
		return "?"
	}
	return string(b)
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) {
	s.lookups.Add(1)
	f := s.Faults()
	if f.Outage {
		s.dropped.Add(1)
		s.log.Info("look-up", "outcome", "dropped (outage)")
		s.drop(w)
		return
	}
	if f.Timeout {
		s.hung.Add(1)
		s.log.Info("look-up", "outcome", "hung (timeout)")
		s.wait(r.Context(), MaxHang)
		// Reached only when the client waited longer than MaxHang, or at shutdown.
		s.reply(w, http.StatusGatewayTimeout, registerapi.ErrorResponse{Error: registerapi.CodeUnavailable, Detail: "held by a timeout fault"}, "released (timeout)")
		return
	}
	if f.Latency > 0 {
		s.wait(r.Context(), f.Latency)
	}
	if r.Context().Err() != nil {
		s.log.Info("look-up", "outcome", "client left")
		return
	}
	if s.isClosed() {
		s.reply(w, http.StatusServiceUnavailable, registerapi.ErrorResponse{Error: registerapi.CodeUnavailable, Detail: "shutting down"}, "shutting down")
		return
	}
	if s.token != "" && !bearer(r, s.token) {
		s.rejected.Add(1)
		s.reply(w, http.StatusUnauthorized, registerapi.ErrorResponse{Error: registerapi.CodeUnauthorized, Detail: "bearer token missing or wrong"}, "unauthorized")
		return
	}
	if f.ErrorRate > 0 && s.rand() < f.ErrorRate {
		status := f.ErrorStatus
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		s.errs.Add(1)
		s.reply(w, status, registerapi.ErrorResponse{Error: registerapi.CodeUnavailable, Detail: "injected error"}, "injected error")
		return
	}
	var req registerapi.LookupRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, registerapi.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.rejected.Add(1)
		s.reply(w, http.StatusBadRequest, registerapi.ErrorResponse{Error: registerapi.CodeBadRequest, Detail: "body is not a look-up request"}, "bad request")
		return
	}
	n, err := fileregister.ParseNumber(req.Personnummer, s.now())
	if err != nil {
		s.rejected.Add(1)
		s.reply(w, http.StatusBadRequest, registerapi.ErrorResponse{Error: registerapi.CodeBadRequest, Detail: "personnummer: " + err.Error()}, "bad number")
		return
	}
	if f.Garble {
		s.errs.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"personnummer":"\u0000","givenName":[1,2`)
		s.log.Info("look-up", "outcome", "garbled")
		return
	}
	if f.NotFound {
		s.notFound.Add(1)
		s.reply(w, http.StatusNotFound, registerapi.ErrorResponse{Error: registerapi.CodeNotFound, Detail: "no such person (forced)"}, "not found (forced)")
		return
	}
	p, err := s.reg.Lookup(r.Context(), n)
	switch {
	case err == nil:
		s.found.Add(1)
		s.reply(w, http.StatusOK, registerapi.FromPerson(p), "found")
	case errors.Is(err, registry.ErrNotFound):
		s.notFound.Add(1)
		s.reply(w, http.StatusNotFound, registerapi.ErrorResponse{Error: registerapi.CodeNotFound, Detail: "no such person"}, "not found")
	default:
		s.errs.Add(1)
		s.reply(w, http.StatusServiceUnavailable, registerapi.ErrorResponse{Error: registerapi.CodeUnavailable, Detail: "population unavailable"}, "population unavailable")
	}
}

// drop closes the connection without an answer; where the connection cannot be taken over
// (HTTP/2), it answers 503 instead.
func (s *Server) drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, registerapi.ErrorResponse{Error: registerapi.CodeUnavailable, Detail: "outage"})
		return
	}
	_ = conn.Close()
}

// wait holds the request for d, until the client leaves or the Server closes.
func (s *Server) wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.closed:
	}
}

func (s *Server) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

func (s *Server) reply(w http.ResponseWriter, status int, body any, outcome string) {
	s.log.Info("look-up", "status", status, "outcome", outcome)
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func bearer(r *http.Request, token string) bool {
	return r.Header.Get("Authorization") == "Bearer "+token
}

func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.adminToken != "" && !bearer(r, s.adminToken) {
			writeJSON(w, http.StatusUnauthorized, registerapi.ErrorResponse{Error: registerapi.CodeUnauthorized, Detail: "admin bearer token missing or wrong"})
			return
		}
		h(w, r)
	}
}

func (s *Server) getFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) postFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&f); err != nil {
		writeJSON(w, http.StatusBadRequest, registerapi.ErrorResponse{Error: registerapi.CodeBadRequest, Detail: err.Error()})
		return
	}
	if err := s.SetFaults(f); err != nil {
		writeJSON(w, http.StatusBadRequest, registerapi.ErrorResponse{Error: registerapi.CodeBadRequest, Detail: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) deleteFaults(w http.ResponseWriter, _ *http.Request) {
	s.ClearFaults()
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) getStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}
