package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Acknowledged is one line of the record (JSON lines): a certificate the service acknowledged
// with a 200. cmd/dccha reads it back to check that none was lost.
type Acknowledged struct {
	At         time.Time `json:"at"`     // when the 200 was received
	Sent       time.Time `json:"sent"`   // when the request was first sent
	Target     string    `json:"target"` // the replica that answered 200
	First      string    `json:"first"`  // the replica the request was first sent to
	Identifier string    `json:"identifier"`
	RequestID  string    `json:"requestId"`
	UVCI       string    `json:"uvci"`
	HC1        string    `json:"hc1"`
	Attempts   int       `json:"attempts"`
}

// recording is continuous issuance for a failover proof. Clients post bodies round robin over
// the targets until the duration has passed or ctx ends. A request that is not answered (the
// replica is gone) or is refused with 503 or 429 is sent again, unchanged and with the same
// X-Request-ID, to the next target after retryPause, as a load balancer that retries on another
// replica would; the service's idempotent replay makes that safe. Every 200 is written to out.
type recording struct {
	client     *http.Client
	targets    []string // full URLs of the issuing route, one per replica
	key        string
	bodies     *bodies
	clients    int
	duration   time.Duration
	max        uint64
	retryPause time.Duration
	now        func() time.Time

	next atomic.Uint64 // round-robin position

	mu   sync.Mutex
	out  *bufio.Writer
	werr error
}

// recordTally is what the recording saw.
type recordTally struct {
	acknowledged int
	attempts     int
	byStatus     map[int]int
	transport    map[string]int
	refusals     map[string]int // 503 and 429 by their first error code
	slowest      time.Duration  // the longest a refusal took to arrive
	failures     int            // answers that break the service's promise
	unexpected   []string       // the first few of them
	acks         []time.Time
}

func (t *recordTally) merge(o *recordTally) {
	t.acknowledged += o.acknowledged
	t.failures += o.failures
	t.attempts += o.attempts
	for k, v := range o.byStatus {
		t.byStatus[k] += v
	}
	for k, v := range o.transport {
		t.transport[k] += v
	}
	for k, v := range o.refusals {
		t.refusals[k] += v
	}
	t.slowest = max(t.slowest, o.slowest)
	t.unexpected = append(t.unexpected, o.unexpected[:min(len(o.unexpected), max(0, 10-len(t.unexpected)))]...)
	t.acks = append(t.acks, o.acks...)
}

func newRecordTally() *recordTally {
	return &recordTally{byStatus: map[int]int{}, transport: map[string]int{}, refusals: map[string]int{}}
}

// run records until the deadline or ctx ends; a request in flight then is finished (each
// attempt is bounded by the client's timeout) but not retried.
func (r *recording) run(ctx context.Context) (*recordTally, time.Duration) {
	start := r.now()
	deadline := start.Add(r.duration)
	var sent atomic.Uint64
	tallies := make([]*recordTally, r.clients)
	var wg sync.WaitGroup
	for i := range r.clients {
		t := newRecordTally()
		tallies[i] = t
		wg.Go(func() {
			for ctx.Err() == nil && r.now().Before(deadline) && sent.Add(1) <= r.max {
				r.issue(ctx, deadline, t)
			}
		})
	}
	wg.Wait()
	total := newRecordTally()
	for _, t := range tallies {
		total.merge(t)
	}
	return total, r.now().Sub(start)
}

// issue sends one new request until it is answered for good.
func (r *recording) issue(ctx context.Context, deadline time.Time, t *recordTally) {
	id, body := r.bodies.nextObservation()
	sent := r.now()
	var first string
	for attempt := 1; ; attempt++ {
		target := r.targets[int(r.next.Add(1)-1)%len(r.targets)]
		if first == "" {
			first = target
		}
		began := r.now()
		status, raw, err := r.post(ctx, target, id, body)
		t.attempts++
		switch {
		case err != nil:
			t.transport[errorKind(err)]++
		case status == http.StatusOK:
			t.byStatus[status]++
			r.acknowledge(t, Acknowledged{At: r.now(), Sent: sent, Target: target, First: first, Identifier: id, RequestID: id, Attempts: attempt}, raw)
			return
		case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
			t.byStatus[status]++
			t.refusals[firstCode(raw)]++
			t.slowest = max(t.slowest, r.now().Sub(began))
			if isOutcome, _ := outcomeCodes(raw); !isOutcome {
				t.unexpect(fmt.Sprintf("%d without an OperationOutcome: %s", status, truncate(string(raw), 200)))
			}
		default:
			t.byStatus[status]++
			t.unexpect(fmt.Sprintf("%d for %s: %s", status, id, truncate(string(raw), 300)))
			return
		}
		if ctx.Err() != nil || !r.now().Before(deadline) {
			return
		}
		sleep(ctx, r.retryPause)
	}
}

func (t *recordTally) unexpect(s string) {
	t.failures++
	if len(t.unexpected) < 10 {
		t.unexpected = append(t.unexpected, s)
	}
}

// post sends one attempt. The request outlives ctx: an attempt in flight is finished, so that
// its answer is recorded.
func (r *recording) post(ctx context.Context, url, requestID string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer "+r.key)
	req.Header.Set("X-Request-ID", requestID)
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, raw, nil
}

// acknowledge writes a 200 to the record. An answer without a UVCI and an HC1 is counted as
// unexpected: the record must hold what the service acknowledged.
func (r *recording) acknowledge(t *recordTally, a Acknowledged, raw []byte) {
	var resp struct {
		TestProof struct {
			Metadata struct {
				UVCI string `json:"uvci"`
				HC1  string `json:"hc1"`
			} `json:"metadata"`
		} `json:"testProof"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil || resp.TestProof.Metadata.UVCI == "" || resp.TestProof.Metadata.HC1 == "" {
		t.unexpect(fmt.Sprintf("200 for %s without testProof.metadata.uvci and .hc1 (use a /api/v1 path): %s", a.Identifier, truncate(string(raw), 200)))
		return
	}
	a.UVCI, a.HC1 = resp.TestProof.Metadata.UVCI, resp.TestProof.Metadata.HC1
	t.acknowledged++
	t.acks = append(t.acks, a.At)
	line, err := json.Marshal(a)
	if err != nil {
		t.unexpect(fmt.Sprintf("encode record line: %v", err))
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.werr == nil {
		_, r.werr = r.out.Write(append(line, '\n'))
	}
}

// firstCode is the first issue's code of an OperationOutcome, or "?".
func firstCode(body []byte) string {
	var oo struct {
		Issue []struct {
			Details struct {
				Coding []struct {
					Code string `json:"code"`
				} `json:"coding"`
			} `json:"details"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || len(oo.Issue) == 0 || len(oo.Issue[0].Details.Coding) == 0 {
		return "?"
	}
	return oo.Issue[0].Details.Coding[0].Code
}

// longestGap is the longest time between two consecutive acknowledgements, and when it began.
func longestGap(acks []time.Time) (time.Duration, time.Time) {
	sorted := slices.Clone(acks)
	slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	var gap time.Duration
	var at time.Time
	for i := 1; i < len(sorted); i++ {
		if d := sorted[i].Sub(sorted[i-1]); d > gap {
			gap, at = d, sorted[i-1]
		}
	}
	return gap, at
}

// recordRun is dccload --record: continuous issuance through every target, each 200 written to
// the file. Exit status 1 when an answer broke the service's promise (anything but 200 or a
// 503/429 refusal with an OperationOutcome) or the record could not be written.
func recordRun(ctx context.Context, o options, targets []string, key string, stdout, stderr io.Writer) int {
	bodies, err := newBodies(o.pnr, time.Now)
	if err != nil {
		fmt.Fprintf(stderr, "dccload: %v\n", err)
		return 1
	}
	f, err := os.OpenFile(o.record, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		fmt.Fprintf(stderr, "dccload: record: %v\n", err)
		return 1
	}
	urls := make([]string, len(targets))
	for i, t := range targets {
		urls[i] = t + o.path
	}
	r := &recording{client: newClient(o.clients, o.timeout), targets: urls, key: key, bodies: bodies, clients: o.clients,
		duration: o.measure, max: o.max, retryPause: o.retryPause, now: time.Now, out: bufio.NewWriter(f)}
	fmt.Fprintf(stdout, "recording: %d clients round robin over %d targets for at most %s into %s\n", o.clients, len(urls), o.measure, o.record)
	t, elapsed := r.run(ctx)
	werr := r.werr
	if err := r.out.Flush(); werr == nil {
		werr = err
	}
	if err := f.Close(); werr == nil {
		werr = err
	}
	gap, at := longestGap(t.acks)
	fmt.Fprintf(stdout, "\n== record: %d clients, %.1f s\n", o.clients, elapsed.Seconds())
	fmt.Fprintf(stdout, "acknowledged      %d (%.1f/s) in %d attempts\n", t.acknowledged, float64(t.acknowledged)/elapsed.Seconds(), t.attempts)
	fmt.Fprintf(stdout, "answers           %v\n", t.byStatus)
	if len(t.refusals) > 0 {
		fmt.Fprintf(stdout, "refusals          %v, the slowest answered in %s\n", t.refusals, t.slowest.Round(time.Millisecond))
	}
	if len(t.transport) > 0 {
		fmt.Fprintf(stdout, "not answered      %v (sent again to the next target)\n", t.transport)
	}
	if !at.IsZero() {
		fmt.Fprintf(stdout, "longest gap       %s between two acknowledgements, from %s\n", gap.Round(time.Millisecond), at.UTC().Format("15:04:05.000"))
	}
	code := 0
	if werr != nil {
		fmt.Fprintf(stderr, "dccload: write record %s: %v\n", o.record, werr)
		code = 1
	}
	if t.failures > 0 {
		fmt.Fprintf(stdout, "\nFAIL: %d answers other than 200 or a refusal with an OperationOutcome, e.g.:\n", t.failures)
		for _, u := range t.unexpected {
			fmt.Fprintln(stdout, "  "+u)
		}
		code = 1
	}
	return code
}
