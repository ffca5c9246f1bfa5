// Package admission bounds the expensive work the service does at once. A Limiter admits up to
// Limit requests, lets a bounded number of further requests wait a short while for a slot, and
// refuses the rest at once with a suggested Retry-After, so that a rush is shed as "overloaded,
// come back in N seconds" instead of queueing without end and collapsing.
//
// Each budget ("issue", later "citizen") is its own Limiter, so that one kind of traffic cannot
// take the slots of another.
//
// The package answers with a reason and a wait, nothing more: the HTTP layer turns a refusal into
// its answer (503 overloaded with Retry-After), so admission knows no HTTP framework, no problem
// type and no issuer.
package admission

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// Defaults for the Retry-After a rejection suggests.
const (
	DefaultMinRetryAfter = time.Second
	DefaultMaxRetryAfter = 30 * time.Second
)

// rateWindow is how long completions are counted before the throughput estimate is renewed, and
// staleAfter is the age beyond which a window says nothing about the current throughput (the
// limiter was not saturated during it).
const (
	rateWindow = time.Second
	staleAfter = 3 * rateWindow
)

// Config describes one budget.
type Config struct {
	// Name labels the budget in metrics and logs ("issue", "citizen").
	Name string
	// Limit is the number of requests admitted at once. Required, at least 1.
	Limit int
	// Queue is the number of requests that may wait for a slot beyond Limit; 0 means none wait.
	Queue int
	// Wait is the longest a request waits for a slot before it is refused; 0 means none wait.
	Wait time.Duration
	// MinRetryAfter and MaxRetryAfter bound the suggested Retry-After
	// (defaults DefaultMinRetryAfter and DefaultMaxRetryAfter).
	MinRetryAfter time.Duration
	MaxRetryAfter time.Duration
	// Clock is used for the throughput estimate behind Retry-After (default time.Now).
	Clock func() time.Time
}

// Reason says why a request was not admitted.
type Reason int

const (
	// Admitted: the request holds a slot.
	Admitted Reason = iota
	// QueueFull: every slot was taken and Queue requests were already waiting.
	QueueFull
	// WaitExpired: the request waited Wait without a slot coming free.
	WaitExpired
	// Canceled: the request's context ended while it waited (the client went away).
	Canceled
)

func (r Reason) String() string {
	switch r {
	case Admitted:
		return "admitted"
	case QueueFull:
		return "queue-full"
	case WaitExpired:
		return "wait-expired"
	case Canceled:
		return "canceled"
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// Stats is a snapshot of a limiter for gauges and counters.
type Stats struct {
	Name     string
	Limit    int // slots
	Queue    int // waiters allowed
	InFlight int // slots held now
	Waiting  int // requests waiting now

	Admitted    uint64 // requests given a slot, since start
	QueueFull   uint64 // refused at once because the queue was full
	WaitExpired uint64 // refused after waiting Wait
	Canceled    uint64 // gave up waiting because their context ended
}

// Rejected is the number of requests the limiter refused (queue full or wait expired).
func (s Stats) Rejected() uint64 { return s.QueueFull + s.WaitExpired }

// Limiter bounds concurrent work. It is safe for concurrent use.
//
// The bound is a buffered channel used as a semaphore: admission without contention is one
// non-blocking channel send, and waiters block on the channel itself, so no lock of the
// limiter's own is taken on the admission path. The number of waiters is an atomic counter
// checked before waiting, which bounds the queue.
type Limiter struct {
	name     string
	slots    chan struct{}
	queue    int64
	wait     time.Duration
	minRetry time.Duration
	maxRetry time.Duration
	now      func() time.Time

	waiting     atomic.Int64
	admitted    atomic.Uint64
	completed   atomic.Uint64
	queueFull   atomic.Uint64
	waitExpired atomic.Uint64
	canceled    atomic.Uint64

	// Throughput estimate, renewed by rejections (the only time it is needed) once per window.
	winStart    atomic.Int64  // unix nanoseconds
	winDone     atomic.Uint64 // completed at winStart
	winRejected atomic.Int64  // rejections in the current window
	rate        atomic.Uint64 // math.Float64bits of completions per second; NaN when unknown
}

// New checks cfg and builds a limiter.
func New(cfg Config) (*Limiter, error) {
	var errs []error
	if cfg.Name == "" {
		errs = append(errs, errors.New("admission: budget has no name"))
	}
	if cfg.Limit < 1 {
		errs = append(errs, fmt.Errorf("admission %s: limit %d, want at least 1", cfg.Name, cfg.Limit))
	}
	if cfg.Queue < 0 {
		errs = append(errs, fmt.Errorf("admission %s: queue %d, want 0 or more", cfg.Name, cfg.Queue))
	}
	if cfg.Wait < 0 {
		errs = append(errs, fmt.Errorf("admission %s: wait %s, want 0 or more", cfg.Name, cfg.Wait))
	}
	if cfg.MinRetryAfter < 0 || cfg.MaxRetryAfter < 0 {
		errs = append(errs, fmt.Errorf("admission %s: negative Retry-After bound", cfg.Name))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.MinRetryAfter == 0 {
		cfg.MinRetryAfter = DefaultMinRetryAfter
	}
	if cfg.MaxRetryAfter == 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if cfg.MaxRetryAfter < cfg.MinRetryAfter {
		return nil, fmt.Errorf("admission %s: MaxRetryAfter %s below MinRetryAfter %s", cfg.Name, cfg.MaxRetryAfter, cfg.MinRetryAfter)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	l := &Limiter{
		name:     cfg.Name,
		slots:    make(chan struct{}, cfg.Limit),
		queue:    int64(cfg.Queue),
		wait:     cfg.Wait,
		minRetry: cfg.MinRetryAfter,
		maxRetry: cfg.MaxRetryAfter,
		now:      cfg.Clock,
	}
	l.winStart.Store(l.now().UnixNano())
	l.rate.Store(math.Float64bits(math.NaN()))
	return l, nil
}

// Name is the budget's name.
func (l *Limiter) Name() string { return l.name }

// Limit is the number of slots.
func (l *Limiter) Limit() int { return cap(l.slots) }

// Stats returns a snapshot of the limiter's gauges and counters.
func (l *Limiter) Stats() Stats {
	return Stats{
		Name:        l.name,
		Limit:       cap(l.slots),
		Queue:       int(l.queue),
		InFlight:    len(l.slots),
		Waiting:     int(l.waiting.Load()),
		Admitted:    l.admitted.Load(),
		QueueFull:   l.queueFull.Load(),
		WaitExpired: l.waitExpired.Load(),
		Canceled:    l.canceled.Load(),
	}
}

// Ticket is a held slot. Release gives it back; calling Release more than once is harmless.
type Ticket struct {
	l    *Limiter
	done atomic.Bool
}

// Release frees the slot.
func (t *Ticket) Release() {
	if t == nil || !t.done.CompareAndSwap(false, true) {
		return
	}
	t.l.completed.Add(1)
	<-t.l.slots
}

// Acquire takes a slot for one request. When every slot is taken it waits up to the configured
// Wait, provided fewer than Queue requests already wait; otherwise, or when the wait expires or
// ctx ends, it returns a nil ticket, the reason, and the Retry-After to suggest to the client.
func (l *Limiter) Acquire(ctx context.Context) (*Ticket, Reason, time.Duration) {
	select {
	case l.slots <- struct{}{}:
		l.admitted.Add(1)
		return &Ticket{l: l}, Admitted, 0
	default:
	}
	if l.wait <= 0 || l.waiting.Add(1) > l.queue {
		if l.wait > 0 {
			l.waiting.Add(-1)
		}
		l.queueFull.Add(1)
		return nil, QueueFull, l.retryAfter()
	}
	defer l.waiting.Add(-1)
	timer := time.NewTimer(l.wait)
	defer timer.Stop()
	select {
	case l.slots <- struct{}{}:
		l.admitted.Add(1)
		return &Ticket{l: l}, Admitted, 0
	case <-timer.C:
		l.waitExpired.Add(1)
		return nil, WaitExpired, l.retryAfter()
	case <-ctx.Done():
		l.canceled.Add(1)
		return nil, Canceled, l.retryAfter()
	}
}

// retryAfter suggests when a refused client should come back: when the work ahead of it (the
// waiters, plus the clients refused before it in the current window) would have drained at the
// measured throughput, within [MinRetryAfter, MaxRetryAfter]. Successive refusals in a rush so
// get growing values, which spreads the retries out instead of bringing them back together.
func (l *Limiter) retryAfter() time.Duration {
	now := l.now().UnixNano()
	start := l.winStart.Load()
	if el := time.Duration(now - start); el >= rateWindow && l.winStart.CompareAndSwap(start, now) {
		done := l.completed.Load()
		prev := l.winDone.Swap(done)
		r := math.NaN()
		if el <= staleAfter {
			r = float64(done-prev) / el.Seconds()
		}
		l.rate.Store(math.Float64bits(r))
		l.winRejected.Store(0)
	}
	ahead := l.waiting.Load() + l.winRejected.Add(1)
	rate := math.Float64frombits(l.rate.Load())
	switch {
	case math.IsNaN(rate):
		// No measurement yet (the rush has just begun): the shortest wait.
		return l.minRetry
	case rate <= 0:
		// Nothing finished in a whole window: the work is stuck, so send clients away longest.
		return l.maxRetry
	}
	d := time.Duration(float64(ahead) / rate * float64(time.Second))
	return min(max(d, l.minRetry), l.maxRetry)
}
