package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer"
)

// provider is a provider of the instance under load.
type provider struct {
	name, id, key string
	env           issuer.Environment
}

// reqKey names one issuance request: the provider and its Identifier.
type reqKey struct{ provider, identifier string }

// ack is a 200 answer: the certificate the client was given.
type ack struct {
	uvci, hc1, source string
	env               issuer.Environment
}

// ledger is what clients were promised across a scenario: every 200 with its certificate, every
// request sent, which requests were in flight when, and which were retried after a transport
// failure.
type ledger struct {
	mu       sync.Mutex
	acked    map[reqKey]ack
	sent     map[reqKey]bool
	inflight map[reqKey]int // concurrent attempts of the request now
	retried  map[reqKey]bool
	dupes    []string
	// refused are the request ids of every 503 answer, with its code, for the audit check.
	refused map[string]string
}

func newLedger() *ledger {
	return &ledger{acked: map[reqKey]ack{}, sent: map[reqKey]bool{}, inflight: map[reqKey]int{},
		retried: map[reqKey]bool{}, refused: map[string]string{}}
}

// inFlight returns the requests in flight now.
func (l *ledger) inFlight() []reqKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []reqKey
	for k, n := range l.inflight {
		if n > 0 {
			out = append(out, k)
		}
	}
	return out
}

// stats are what clients saw during one phase.
type stats struct {
	mu         sync.Mutex
	start      time.Time
	byStatus   map[int]int
	byCode     map[string]int // codes of non-200 answers
	sources    map[string]int // identity sources of 200 answers
	transport  map[string]int
	maxLatency map[int]time.Duration // per status; 0 for transport errors
	retryAfter []int
	noRetry    int // 503 or 429 without Retry-After
	last200    time.Time
	first200   time.Time
	gap        time.Duration // longest time without a 200 answer
	other      []string      // first bodies of unexpected answers
}

func newStats() *stats {
	now := time.Now()
	return &stats{start: now, last200: now, byStatus: map[int]int{}, byCode: map[string]int{}, sources: map[string]int{},
		transport: map[string]int{}, maxLatency: map[int]time.Duration{}}
}

// load is continuous issuance from several providers, clientsPer clients each. Each client
// sends new test results; a request that fails in transport (the server died) or is refused
// with 503 or 429 is sent again, the same body, until it gets an answer that is final.
type load struct {
	url       string
	providers []provider
	clients   int
	body      func(identifier string) []byte
	led       *ledger
	// retryCap bounds how long a client honours Retry-After, so that recovery is seen at once.
	retryCap time.Duration
	// giveUp: after stop, how long a client keeps retrying its unanswered request.
	giveUp time.Duration

	client *http.Client
	mu     sync.Mutex
	st     *stats
	stopc  chan struct{}
	wg     sync.WaitGroup
	run    string
}

func (s *suite) startLoad(url string, providers []provider, clientsPer int, led *ledger, body func(string) []byte) *load {
	if body == nil {
		body = func(id string) []byte {
			return fhirtest.Observation(fhirtest.RAT, fhirtest.Now(time.Now()), fhirtest.Identifier(id))
		}
	}
	s.seq++
	l := &load{url: url + "/api/v1/observation", providers: providers, clients: clientsPer, body: body, led: led,
		retryCap: 250 * time.Millisecond, giveUp: 20 * time.Second,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		st:     newStats(), stopc: make(chan struct{}), run: fmt.Sprintf("CHAOS-%s-%d", s.runID, s.seq)}
	for pi, p := range providers {
		for c := range clientsPer {
			l.wg.Go(func() { l.client1(p, fmt.Sprintf("%s-%d-%d", l.run, pi, c)) })
		}
	}
	return l
}

// phase starts a new set of figures and returns the finished one.
func (l *load) phase() *stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.st
	l.st = newStats()
	old.finish()
	return old
}

// stop ends the load: clients finish (and retry) what they hold, within giveUp.
func (l *load) stop() *stats {
	close(l.stopc)
	l.wg.Wait()
	l.client.CloseIdleConnections()
	return l.phase()
}

func (l *load) stats() *stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

func (l *load) stopped() bool {
	select {
	case <-l.stopc:
		return true
	default:
		return false
	}
}

func (l *load) client1(p provider, prefix string) {
	for n := 0; !l.stopped(); n++ {
		id := fmt.Sprintf("%s-%d", prefix, n)
		k := reqKey{p.id, id}
		body := l.body(id)
		l.led.mu.Lock()
		l.led.sent[k] = true
		l.led.mu.Unlock()
		l.until(p, k, body)
	}
}

// until sends the request until its answer is final (200 or a 4xx other than 429), or the load
// was stopped more than giveUp ago.
func (l *load) until(p provider, k reqKey, body []byte) {
	var stoppedAt time.Time
	for attempt := 0; ; attempt++ {
		if l.stopped() {
			if stoppedAt.IsZero() {
				stoppedAt = time.Now()
			}
			if time.Since(stoppedAt) > l.giveUp {
				return
			}
		}
		wait, final := l.once(p, k, body, attempt)
		if final {
			return
		}
		time.Sleep(wait)
	}
}

// once sends one attempt and records the answer; it returns how long to wait before the next
// attempt and whether the answer was final.
func (l *load) once(p provider, k reqKey, body []byte, attempt int) (time.Duration, bool) {
	req, err := http.NewRequest(http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		l.stats().transportError(err, 0)
		return 0, true
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	// The request is idempotent by its Identifier; saying so lets the HTTP client resend it when
	// a kept-alive connection turns out closed before anything was sent.
	req.Header.Set("Idempotency-Key", k.identifier)
	req.Header.Set("Authorization", "Bearer "+p.key)
	l.led.mu.Lock()
	l.led.inflight[k]++
	l.led.mu.Unlock()
	begin := time.Now()
	resp, err := l.client.Do(req)
	var raw []byte
	if err == nil {
		raw, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}
	lat := time.Since(begin)
	l.led.mu.Lock()
	l.led.inflight[k]--
	if l.led.inflight[k] == 0 {
		delete(l.led.inflight, k)
	}
	l.led.mu.Unlock()
	st := l.stats()
	if err != nil {
		st.transportError(err, lat)
		l.led.mu.Lock()
		l.led.retried[k] = true
		l.led.mu.Unlock()
		return 20 * time.Millisecond, false
	}
	code := resp.StatusCode
	codes, source, uvci, hc1 := parseAnswer(raw)
	st.answer(code, codes, source, lat, resp.Header.Get("Retry-After"), raw)
	switch {
	case code == http.StatusOK:
		l.led.mu.Lock()
		if prev, ok := l.led.acked[k]; ok && prev.hc1 != hc1 {
			l.led.dupes = append(l.led.dupes, fmt.Sprintf("%s answered with two certificates (%s, %s)", k.identifier, prev.uvci, uvci))
		}
		l.led.acked[k] = ack{uvci: uvci, hc1: hc1, source: source, env: p.env}
		l.led.mu.Unlock()
		return 0, true
	case code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests:
		l.led.mu.Lock()
		c := "?"
		if len(codes) > 0 {
			c = codes[0]
		}
		l.led.refused[resp.Header.Get("X-Request-ID")] = c
		l.led.mu.Unlock()
		wait := l.retryCap
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
			wait = min(time.Duration(secs)*time.Second, l.retryCap)
		}
		return wait, false
	}
	return 0, true
}

// parseAnswer reads the problem codes of an OperationOutcome, or the certificate of a 200.
func parseAnswer(raw []byte) (codes []string, source, uvci, hc1 string) {
	var m struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Details struct {
				Coding []struct {
					Code string `json:"code"`
				} `json:"coding"`
			} `json:"details"`
		} `json:"issue"`
		IdentitySource string `json:"identitySource"`
		TestProof      *struct {
			Metadata struct {
				UVCI string `json:"uvci"`
				HC1  string `json:"hc1"`
			} `json:"metadata"`
		} `json:"testProof"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return nil, "", "", ""
	}
	for _, is := range m.Issue {
		for _, c := range is.Details.Coding {
			codes = append(codes, c.Code)
		}
	}
	if m.TestProof != nil {
		uvci, hc1 = m.TestProof.Metadata.UVCI, m.TestProof.Metadata.HC1
	}
	return codes, m.IdentitySource, uvci, hc1
}

func (st *stats) transportError(err error, lat time.Duration) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.transport[errorKind(err)]++
	st.maxLatency[0] = max(st.maxLatency[0], lat)
}

func (st *stats) answer(code int, codes []string, source string, lat time.Duration, retryAfter string, raw []byte) {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := time.Now()
	st.byStatus[code]++
	st.maxLatency[code] = max(st.maxLatency[code], lat)
	if code == http.StatusOK {
		st.sources[source]++
		if st.first200.IsZero() {
			st.first200 = now
		}
		st.gap = max(st.gap, now.Sub(st.last200))
		st.last200 = now
		return
	}
	for _, c := range codes {
		st.byCode[c]++
	}
	if code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests {
		if secs, err := strconv.Atoi(retryAfter); err == nil && secs > 0 {
			st.retryAfter = append(st.retryAfter, secs)
		} else {
			st.noRetry++
		}
		return
	}
	if len(st.other) < 3 {
		st.other = append(st.other, fmt.Sprintf("%d %.300s", code, raw))
	}
}

// finish closes the gap measure at the end of the phase.
func (st *stats) finish() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.gap = max(st.gap, time.Since(st.last200))
}

// firstOK is when the phase's first 200 arrived (zero if none).
func (st *stats) firstOK() time.Time {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.first200
}

// lastOK is when the phase's last 200 arrived (its start if none).
func (st *stats) lastOK() time.Time {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.last200
}

// source is how many 200 answers so far named the identity source.
func (st *stats) source(name string) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.sources[name]
}

// sourceCounts is a copy of the identity sources of the 200 answers so far.
func (st *stats) sourceCounts() map[string]int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return maps.Clone(st.sources)
}

func (st *stats) count(code int) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.byStatus[code]
}

// statusLine is e.g. "200: 812, 503: 41 (store-unavailable 41), Retry-After 5-5 s".
func (st *stats) statusLine() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	codes := make([]int, 0, len(st.byStatus))
	for c := range st.byStatus {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var b bytes.Buffer
	for i, c := range codes {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d: %d", c, st.byStatus[c])
	}
	if len(st.byCode) > 0 {
		fmt.Fprintf(&b, " (codes %v)", st.byCode)
	}
	if len(st.retryAfter) > 0 {
		fmt.Fprintf(&b, ", Retry-After %d-%d s", slices.Min(st.retryAfter), slices.Max(st.retryAfter))
	}
	if st.noRetry > 0 {
		fmt.Fprintf(&b, ", %d without Retry-After", st.noRetry)
	}
	if len(st.transport) > 0 {
		fmt.Fprintf(&b, ", transport errors %v", st.transport)
	}
	return b.String()
}

// unexpected lists answers other than 200, and 503 refusals with a code not allowed or without
// a Retry-After.
func (st *stats) unexpected(allowed ...string) []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []string
	for c, n := range st.byStatus {
		if c != http.StatusOK && c != http.StatusServiceUnavailable {
			out = append(out, fmt.Sprintf("%d answers %d", n, c))
		}
	}
	for c, n := range st.byCode {
		if !slices.Contains(allowed, c) {
			out = append(out, fmt.Sprintf("%d answers with code %s", n, c))
		}
	}
	if st.noRetry > 0 {
		out = append(out, fmt.Sprintf("%d refusals without Retry-After", st.noRetry))
	}
	out = append(out, st.other...)
	slices.Sort(out)
	return out
}

func (st *stats) maxAll() time.Duration {
	st.mu.Lock()
	defer st.mu.Unlock()
	var m time.Duration
	for _, d := range st.maxLatency {
		m = max(m, d)
	}
	return m
}

func (st *stats) longestGap() time.Duration {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.gap
}

func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}

// waitFor polls cond every 10 ms until it holds or limit passes; it returns how long it took.
func waitFor(limit time.Duration, cond func() bool) (time.Duration, bool) {
	begin := time.Now()
	for {
		if cond() {
			return time.Since(begin), true
		}
		if time.Since(begin) > limit {
			return time.Since(begin), false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// status returns the status code of a GET, 0 when it failed.
func status(url string) int {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
