package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// load is one phase's work: clients goroutines post bodies to url until the duration has passed
// or max requests have been sent, whichever comes first.
type load struct {
	client          *http.Client
	url             string
	key             string
	bodies          *bodies
	clients         int
	duration        time.Duration
	max             uint64
	honorRetryAfter bool
	// makeRequest, when set, makes each request instead of a provider observation with the key
	// (the compare mode's peer).
	makeRequest func() (*http.Request, error)
	// rate, when above zero, paces the clients together to that many requests a second (an open
	// loop), instead of each sending as soon as its last answer came.
	rate float64
}

// tally is what one client goroutine saw; tallies are merged after the phase.
type tally struct {
	requests        int
	byStatus        map[int]int
	admitted        []time.Duration // latency of 200 answers
	rejected        []time.Duration // latency of 503 and 429 answers
	withRetryAfter  int             // rejections carrying a valid Retry-After
	withOutcome     int             // rejections whose body is an OperationOutcome
	overloaded      int             // rejections with the code overloaded
	retryAfterSecs  []int
	transportErrors map[string]int
	examples        map[int]string // first body of each status other than 200, for diagnosis
	errorExample    string
	// buf holds each answer's body in turn, so that reading the answers (some 25 kB with the
	// documents) does not make the load tool's garbage compete with the server for the cores.
	buf bytes.Buffer
}

func newTally() *tally {
	return &tally{byStatus: map[int]int{}, transportErrors: map[string]int{}, examples: map[int]string{}}
}

func (t *tally) merge(o *tally) {
	t.requests += o.requests
	for k, v := range o.byStatus {
		t.byStatus[k] += v
	}
	t.admitted = append(t.admitted, o.admitted...)
	t.rejected = append(t.rejected, o.rejected...)
	t.withRetryAfter += o.withRetryAfter
	t.withOutcome += o.withOutcome
	t.overloaded += o.overloaded
	t.retryAfterSecs = append(t.retryAfterSecs, o.retryAfterSecs...)
	for k, v := range o.transportErrors {
		t.transportErrors[k] += v
	}
	for k, v := range o.examples {
		if _, ok := t.examples[k]; !ok {
			t.examples[k] = v
		}
	}
	if t.errorExample == "" {
		t.errorExample = o.errorExample
	}
}

// result is a finished phase.
type result struct {
	*tally
	clients int
	elapsed time.Duration
}

// run performs the phase. It stops sending at the deadline and waits for requests in flight,
// each bounded by the client's timeout. ctx ends it early (interrupt).
func (l *load) run(ctx context.Context) result {
	start := time.Now()
	deadline := start.Add(l.duration)
	var sent atomic.Uint64
	tallies := make([]*tally, l.clients)
	var wg sync.WaitGroup
	var tokens chan struct{}
	if l.rate > 0 {
		tokens = make(chan struct{}, l.clients)
		stop := make(chan struct{})
		defer close(stop)
		go pace(tokens, stop, l.rate, deadline)
	}
	for i := range l.clients {
		t := newTally()
		tallies[i] = t
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) && sent.Add(1) <= l.max {
				if tokens != nil {
					if _, ok := <-tokens; !ok {
						return
					}
				}
				if wait := l.once(ctx, t); wait > 0 {
					sleep(ctx, min(wait, time.Until(deadline)))
				}
			}
		})
	}
	wg.Wait()
	total := newTally()
	for _, t := range tallies {
		total.merge(t)
	}
	return result{tally: total, clients: l.clients, elapsed: time.Since(start)}
}

// pace sends rate tokens a second until the deadline, then closes the channel. Tokens the
// clients cannot take at once are dropped (they count as not offered), so a server slower than
// the rate is not flooded afterwards.
func pace(tokens chan<- struct{}, stop <-chan struct{}, rate float64, deadline time.Time) {
	defer close(tokens)
	start := time.Now()
	tk := time.NewTicker(time.Millisecond)
	defer tk.Stop()
	issued := 0
	for {
		select {
		case <-stop:
			return
		case now := <-tk.C:
			if now.After(deadline) {
				return
			}
			due := int(now.Sub(start).Seconds() * rate)
			for ; issued < due; issued++ {
				select {
				case tokens <- struct{}{}:
				default:
				}
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

// once sends one request and records its answer. It returns how long to wait before the next
// one: the Retry-After of a rejection when the phase honours it, else zero.
func (l *load) once(ctx context.Context, t *tally) time.Duration {
	var req *http.Request
	var err error
	if l.makeRequest != nil {
		req, err = l.makeRequest()
	} else {
		req, err = http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, l.url, bytes.NewReader(l.bodies.observation()))
		if err == nil {
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("Authorization", "Bearer "+l.key)
		}
	}
	if err != nil {
		t.transportErrors["request"]++
		t.errorExample = err.Error()
		return 0
	}
	start := time.Now()
	resp, err := l.client.Do(req)
	if err != nil {
		t.requests++
		t.transportErrors[errorKind(err)]++
		if t.errorExample == "" {
			t.errorExample = err.Error()
		}
		return 0
	}
	t.buf.Reset()
	_, err = t.buf.ReadFrom(io.LimitReader(resp.Body, 4<<20))
	resp.Body.Close()
	body := t.buf.Bytes()
	lat := time.Since(start)
	t.requests++
	if err != nil {
		t.transportErrors[errorKind(err)]++
		if t.errorExample == "" {
			t.errorExample = err.Error()
		}
		return 0
	}
	t.byStatus[resp.StatusCode]++
	if resp.StatusCode == http.StatusOK {
		t.admitted = append(t.admitted, lat)
		return 0
	}
	if _, ok := t.examples[resp.StatusCode]; !ok {
		t.examples[resp.StatusCode] = truncate(string(body), 400)
	}
	if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusTooManyRequests {
		return 0
	}
	t.rejected = append(t.rejected, lat)
	var wait time.Duration
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		t.withRetryAfter++
		t.retryAfterSecs = append(t.retryAfterSecs, secs)
		wait = time.Duration(secs) * time.Second
	}
	isOutcome, overloaded := outcomeCodes(body)
	if isOutcome {
		t.withOutcome++
	}
	if overloaded {
		t.overloaded++
	}
	if !l.honorRetryAfter {
		return 0
	}
	return wait
}

// outcomeCodes reports whether body is an OperationOutcome and whether it carries the code
// overloaded.
func outcomeCodes(body []byte) (isOutcome, overloaded bool) {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Details struct {
				Coding []struct {
					Code string `json:"code"`
				} `json:"coding"`
			} `json:"details"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		return false, false
	}
	for _, is := range oo.Issue {
		for _, c := range is.Details.Coding {
			if c.Code == "overloaded" {
				overloaded = true
			}
		}
	}
	return true, overloaded
}

func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	return "other"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// percentile is the nearest-rank percentile p (0 to 100) of sorted values; zero when empty.
func percentile[T any](sorted []T, p float64) T {
	var zero T
	if len(sorted) == 0 {
		return zero
	}
	rank := int(p/100*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// report writes the phase's figures.
func (r result) report(w io.Writer, name string) {
	fmt.Fprintf(w, "\n== %s: %d clients, %.1f s\n", name, r.clients, r.elapsed.Seconds())
	fmt.Fprintf(w, "requests          %d (%.0f/s answered)\n", r.requests, float64(r.requests)/r.elapsed.Seconds())
	codes := make([]int, 0, len(r.byStatus))
	for c := range r.byStatus {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	fmt.Fprintf(w, "status           ")
	for _, c := range codes {
		fmt.Fprintf(w, " %d: %d", c, r.byStatus[c])
	}
	fmt.Fprintln(w)
	slices.Sort(r.admitted)
	fmt.Fprintf(w, "admitted (200)    %.1f/s\n", float64(len(r.admitted))/r.elapsed.Seconds())
	fmt.Fprintf(w, "admitted latency  p50 %s  p99 %s  p99.9 %s  max %s\n",
		ms(percentile(r.admitted, 50)), ms(percentile(r.admitted, 99)), ms(percentile(r.admitted, 99.9)), ms(percentile(r.admitted, 100)))
	n := len(r.rejected)
	fmt.Fprintf(w, "rejected (503/429) %d: with Retry-After %d, with OperationOutcome %d, code overloaded %d\n",
		n, r.withRetryAfter, r.withOutcome, r.overloaded)
	if n > 0 {
		slices.Sort(r.rejected)
		slices.Sort(r.retryAfterSecs)
		fmt.Fprintf(w, "rejection latency p50 %s  p99 %s  max %s\n", ms(percentile(r.rejected, 50)), ms(percentile(r.rejected, 99)), ms(percentile(r.rejected, 100)))
		fmt.Fprintf(w, "Retry-After (s)   min %d  p50 %d  p99 %d  max %d\n", percentile(r.retryAfterSecs, 0),
			percentile(r.retryAfterSecs, 50), percentile(r.retryAfterSecs, 99), percentile(r.retryAfterSecs, 100))
	}
	if len(r.transportErrors) > 0 {
		fmt.Fprintf(w, "transport errors  %v (e.g. %s)\n", r.transportErrors, r.errorExample)
	}
	for _, c := range codes {
		if ex, ok := r.examples[c]; ok && c != http.StatusServiceUnavailable {
			fmt.Fprintf(w, "first %d body     %s\n", c, ex)
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

// problems lists what breaks the service's promise under load: failures other than a clean
// refusal, and refusals that do not tell the client when to come back.
func (r result) problems() []string {
	var out []string
	for c, n := range r.byStatus {
		if c >= 500 && c != http.StatusServiceUnavailable {
			out = append(out, fmt.Sprintf("%d answers with status %d", n, c))
		}
	}
	if n := len(r.transportErrors); n > 0 {
		out = append(out, fmt.Sprintf("transport errors %v", r.transportErrors))
	}
	if n := len(r.rejected); r.withRetryAfter < n || r.withOutcome < n {
		out = append(out, fmt.Sprintf("%d rejections, of which %d with Retry-After and %d with an OperationOutcome", n, r.withRetryAfter, r.withOutcome))
	}
	slices.Sort(out)
	return out
}
