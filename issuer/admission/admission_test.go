package admission

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2021, 6, 1, 8, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustNew(t testing.TB, cfg Config) *Limiter {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "issue"
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l
}

// waitUntil polls cond until it holds. It asserts nothing about time: a condition that never
// holds ends in the test binary's own timeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if t.Context().Err() != nil {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no name", Config{Limit: 1}, "no name"},
		{"zero limit", Config{Name: "issue"}, "limit 0"},
		{"negative queue", Config{Name: "issue", Limit: 1, Queue: -1}, "queue -1"},
		{"negative wait", Config{Name: "issue", Limit: 1, Wait: -time.Second}, "wait -1s"},
		{"negative retry", Config{Name: "issue", Limit: 1, MinRetryAfter: -1}, "negative Retry-After"},
		{"max below min", Config{Name: "issue", Limit: 1, MinRetryAfter: 10 * time.Second, MaxRetryAfter: time.Second}, "below MinRetryAfter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
			}
		})
	}
	l, err := New(Config{Name: "issue", Limit: 3, Queue: 5, Wait: time.Millisecond})
	if err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	if s := l.Stats(); s.Limit != 3 || s.Queue != 5 || s.Name != "issue" || l.Limit() != 3 || l.Name() != "issue" {
		t.Fatalf("stats of a fresh limiter = %+v", s)
	}
}

// TestConcurrencyNeverExceedsLimit hammers a small limiter from many goroutines and checks,
// with a counter incremented inside the slot, that no more than Limit ever hold one.
func TestConcurrencyNeverExceedsLimit(t *testing.T) {
	const limit, workers, rounds = 4, 64, 200
	l := mustNew(t, Config{Limit: limit, Queue: workers, Wait: time.Minute})
	var cur, peak atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				tk, reason, _ := l.Acquire(context.Background())
				if tk == nil {
					t.Errorf("Acquire refused (%v) with room in the queue", reason)
					return
				}
				n := cur.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				runtime.Gosched()
				cur.Add(-1)
				tk.Release()
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > limit {
		t.Fatalf("%d requests held a slot at once, limit %d", p, limit)
	}
	s := l.Stats()
	if s.Admitted != workers*rounds || s.InFlight != 0 || s.Waiting != 0 || s.Rejected() != 0 {
		t.Fatalf("stats after the run = %+v, want %d admitted and nothing held or waiting", s, workers*rounds)
	}
}

// hold fills every slot and returns the tickets.
func hold(t *testing.T, l *Limiter) []*Ticket {
	t.Helper()
	var ts []*Ticket
	for range l.Limit() {
		tk, reason, _ := l.Acquire(context.Background())
		if tk == nil {
			t.Fatalf("Acquire on a free slot refused: %v", reason)
		}
		ts = append(ts, tk)
	}
	return ts
}

type result struct {
	t      *Ticket
	reason Reason
	retry  time.Duration
}

// acquireAsync starts one Acquire in a goroutine; its result arrives on the channel.
func acquireAsync(ctx context.Context, l *Limiter) <-chan result {
	ch := make(chan result, 1)
	go func() {
		tk, reason, retry := l.Acquire(ctx)
		ch <- result{tk, reason, retry}
	}()
	return ch
}

func TestWaitersBeyondQueueAreRefusedAtOnce(t *testing.T) {
	// Wait is an hour: a refusal that waited would hang the test instead of returning.
	l := mustNew(t, Config{Limit: 2, Queue: 3, Wait: time.Hour})
	held := hold(t, l)
	// The waiters report on one channel: which of them a freed slot goes to is the runtime's
	// choice, not the order they were started in.
	results := make(chan result, 3)
	for range 3 {
		go func() {
			tk, reason, retry := l.Acquire(context.Background())
			results <- result{tk, reason, retry}
		}()
	}
	waitUntil(t, "three waiters", func() bool { return l.Stats().Waiting == 3 })

	for range 5 {
		tk, reason, retry := l.Acquire(context.Background())
		if tk != nil || reason != QueueFull {
			t.Fatalf("Acquire with a full queue = (%v, %v), want a refusal for queue-full", tk, reason)
		}
		if retry < DefaultMinRetryAfter || retry > DefaultMaxRetryAfter {
			t.Fatalf("Retry-After %s outside [%s, %s]", retry, DefaultMinRetryAfter, DefaultMaxRetryAfter)
		}
	}
	if s := l.Stats(); s.QueueFull != 5 || s.Waiting != 3 || s.InFlight != 2 {
		t.Fatalf("stats = %+v, want 5 queue-full refusals, 3 waiting, 2 in flight", s)
	}

	// Freeing the slots admits the waiters, one slot each.
	for _, tk := range held {
		tk.Release()
	}
	var got []*Ticket
	for i := range 2 {
		r := <-results
		if r.t == nil {
			t.Fatalf("waiter %d refused (%v) after slots freed", i, r.reason)
		}
		got = append(got, r.t)
	}
	if s := l.Stats(); s.Waiting != 1 || s.InFlight != 2 {
		t.Fatalf("stats = %+v, want one waiter left and both slots held", s)
	}
	got[0].Release()
	if r := <-results; r.t == nil {
		t.Fatalf("last waiter refused (%v) after a slot freed", r.reason)
	} else {
		r.t.Release()
	}
	got[1].Release()
	if s := l.Stats(); s.InFlight != 0 || s.Waiting != 0 || s.Admitted != 5 {
		t.Fatalf("stats at the end = %+v", s)
	}
}

func TestNoQueueRefusesWhenFull(t *testing.T) {
	for _, cfg := range []Config{
		{Limit: 1, Queue: 0, Wait: time.Hour},
		{Limit: 1, Queue: 10, Wait: 0},
	} {
		l := mustNew(t, cfg)
		held := hold(t, l)
		if tk, reason, _ := l.Acquire(context.Background()); tk != nil || reason != QueueFull {
			t.Fatalf("%+v: Acquire on a full limiter = (%v, %v), want queue-full", cfg, tk, reason)
		}
		if s := l.Stats(); s.Waiting != 0 {
			t.Fatalf("%+v: %d waiting after a refusal", cfg, s.Waiting)
		}
		held[0].Release()
		tk, _, _ := l.Acquire(context.Background())
		if tk == nil {
			t.Fatalf("%+v: Acquire refused after release", cfg)
		}
		tk.Release()
	}
}

func TestWaiterGetsFreedSlot(t *testing.T) {
	l := mustNew(t, Config{Limit: 1, Queue: 1, Wait: time.Hour})
	held := hold(t, l)
	w := acquireAsync(context.Background(), l)
	waitUntil(t, "the waiter", func() bool { return l.Stats().Waiting == 1 })
	select {
	case r := <-w:
		t.Fatalf("waiter returned (%v) while every slot was held", r.reason)
	default:
	}
	held[0].Release()
	r := <-w
	if r.t == nil || r.reason != Admitted {
		t.Fatalf("waiter = (%v, %v) after a slot freed, want admitted", r.t, r.reason)
	}
	if s := l.Stats(); s.InFlight != 1 || s.Waiting != 0 {
		t.Fatalf("stats = %+v, want the waiter in flight", s)
	}
	r.t.Release()
}

func TestWaitExpires(t *testing.T) {
	l := mustNew(t, Config{Limit: 1, Queue: 1, Wait: time.Millisecond})
	held := hold(t, l)
	defer held[0].Release()
	tk, reason, retry := l.Acquire(context.Background())
	if tk != nil || reason != WaitExpired {
		t.Fatalf("Acquire = (%v, %v), want wait-expired", tk, reason)
	}
	if retry < DefaultMinRetryAfter {
		t.Fatalf("Retry-After %s below the minimum", retry)
	}
	if s := l.Stats(); s.WaitExpired != 1 || s.Waiting != 0 || s.Rejected() != 1 {
		t.Fatalf("stats = %+v, want one wait-expired refusal and nobody waiting", s)
	}
}

func TestCancelReleasesWaiter(t *testing.T) {
	l := mustNew(t, Config{Limit: 1, Queue: 1, Wait: time.Hour})
	held := hold(t, l)
	ctx, cancel := context.WithCancel(context.Background())
	w := acquireAsync(ctx, l)
	waitUntil(t, "the waiter", func() bool { return l.Stats().Waiting == 1 })
	cancel()
	r := <-w
	if r.t != nil || r.reason != Canceled {
		t.Fatalf("cancelled waiter = (%v, %v), want canceled", r.t, r.reason)
	}
	if s := l.Stats(); s.Waiting != 0 || s.Canceled != 1 || s.Rejected() != 0 {
		t.Fatalf("stats = %+v, want the waiter gone, counted as canceled and not as rejected", s)
	}
	// The queue place is free again.
	w2 := acquireAsync(context.Background(), l)
	waitUntil(t, "a new waiter", func() bool { return l.Stats().Waiting == 1 })
	held[0].Release()
	if r := <-w2; r.t == nil {
		t.Fatalf("new waiter refused: %v", r.reason)
	} else {
		r.t.Release()
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	l := mustNew(t, Config{Limit: 2, Queue: 50, Wait: time.Hour})
	held := hold(t, l)
	ctx, cancel := context.WithCancel(context.Background())
	var waiters []<-chan result
	for range 50 {
		waiters = append(waiters, acquireAsync(ctx, l))
	}
	waitUntil(t, "fifty waiters", func() bool { return l.Stats().Waiting == 50 })
	cancel()
	for _, w := range waiters {
		if r := <-w; r.t != nil {
			r.t.Release()
		}
	}
	for _, tk := range held {
		tk.Release()
	}
	if s := l.Stats(); s.Waiting != 0 || s.InFlight != 0 {
		t.Fatalf("stats = %+v, want nothing held or waiting", s)
	}
	// The limiter starts no goroutines of its own: once every caller has returned, the count is
	// back where it was (allowing a few for the runtime and the test framework).
	waitUntil(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before+2 })
}

func TestReleaseTwiceFreesOneSlot(t *testing.T) {
	l := mustNew(t, Config{Limit: 1})
	t1 := hold(t, l)[0]
	t1.Release()
	t2, _, _ := l.Acquire(context.Background())
	if t2 == nil {
		t.Fatal("Acquire refused after release")
	}
	t1.Release() // a second release must not free t2's slot
	if tk, reason, _ := l.Acquire(context.Background()); tk != nil {
		t.Fatalf("a second release of one ticket freed another's slot (%v)", reason)
	}
	t2.Release()
	var nilTicket *Ticket
	nilTicket.Release() // harmless
}

func TestRetryAfter(t *testing.T) {
	clk := newFakeClock()
	l := mustNew(t, Config{Limit: 1, Clock: clk.Now})
	refuse := func() time.Duration {
		t.Helper()
		tk, reason, retry := l.Acquire(context.Background())
		if tk != nil || reason != QueueFull {
			t.Fatalf("Acquire = (%v, %v), want queue-full", tk, reason)
		}
		return retry
	}

	// 100 requests finish in the first second, then the limiter is saturated.
	for range 100 {
		tk, _, _ := l.Acquire(context.Background())
		tk.Release()
	}
	held := hold(t, l)
	if d := refuse(); d != DefaultMinRetryAfter {
		t.Fatalf("Retry-After before any throughput measurement = %s, want %s", d, DefaultMinRetryAfter)
	}
	clk.Advance(time.Second)

	// Throughput 100/s: the n-th refusal of this window waits for n requests ahead of it.
	var prev time.Duration
	for n := 1; n <= 5000; n++ {
		d := refuse()
		if d < prev {
			t.Fatalf("refusal %d got Retry-After %s, less than %s before it", n, d, prev)
		}
		prev = d
		switch n {
		case 1, 100:
			if d != DefaultMinRetryAfter {
				t.Fatalf("refusal %d: Retry-After %s, want the minimum %s", n, d, DefaultMinRetryAfter)
			}
		case 250:
			if d != 2500*time.Millisecond {
				t.Fatalf("refusal 250 at 100/s: Retry-After %s, want 2.5s", d)
			}
		case 5000:
			if d != DefaultMaxRetryAfter {
				t.Fatalf("refusal 5000 at 100/s: Retry-After %s, want the cap %s", d, DefaultMaxRetryAfter)
			}
		}
	}

	// A whole window without a finished request: the work is stuck, send clients away longest.
	clk.Advance(time.Second)
	if d := refuse(); d != DefaultMaxRetryAfter {
		t.Fatalf("Retry-After with zero throughput = %s, want %s", d, DefaultMaxRetryAfter)
	}

	// A measurement older than the stale limit says nothing: back to the minimum.
	held[0].Release()
	for range 1000 {
		tk, _, _ := l.Acquire(context.Background())
		tk.Release()
	}
	held = hold(t, l)
	defer held[0].Release()
	clk.Advance(time.Minute)
	if d := refuse(); d != DefaultMinRetryAfter {
		t.Fatalf("Retry-After after a stale window = %s, want %s", d, DefaultMinRetryAfter)
	}
}

func TestRetryAfterCountsWaiters(t *testing.T) {
	clk := newFakeClock()
	l := mustNew(t, Config{Limit: 1, Queue: 300, Wait: time.Hour, Clock: clk.Now})
	for range 100 {
		tk, _, _ := l.Acquire(context.Background())
		tk.Release()
	}
	held := hold(t, l)
	ctx, cancel := context.WithCancel(context.Background())
	var waiters []<-chan result
	for range 300 {
		waiters = append(waiters, acquireAsync(ctx, l))
	}
	waitUntil(t, "300 waiters", func() bool { return l.Stats().Waiting == 300 })
	clk.Advance(time.Second)
	tk, _, d := l.Acquire(context.Background())
	if tk != nil {
		t.Fatal("admitted past a full queue")
	}
	// 300 waiting plus this refusal, at 100/s.
	if d != 3010*time.Millisecond {
		t.Fatalf("Retry-After = %s, want 3.01s for 301 requests ahead at 100/s", d)
	}
	cancel()
	for _, w := range waiters {
		<-w
	}
	held[0].Release()
}
