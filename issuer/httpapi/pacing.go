package httpapi

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// pacer slows down the overload refusals of clients that ignore Retry-After.
//
// A refusal tells the client when to come back. A client that honours it is refused at once, as
// often as it asks. A client (credential and host, see paceKey) that asks again before its time
// is up gets its refusal only after a pause (at most max): the answer is the same 503, but such a
// client can no longer turn the refusals themselves into the work that crowds out the admitted
// requests, whether it reuses its connection or opens a new one. Several workers of one provider
// on one host share the key: while one of them was told to wait, another's refusal may be paused
// too, by at most max; they are being refused either way. Admitted requests are never paused.
// The pauses are bounded: at most maxHeld refusals wait at once, beyond that they are answered
// at once, so pacing never becomes a queue of its own.
type pacer struct {
	max time.Duration
	now func() time.Time

	mu    sync.Mutex
	until *lru.Cache[string, time.Time] // client -> when its last refusal told it to return

	held   chan struct{}
	paused atomic.Uint64
}

const maxHeld = 10000

func newPacer(max time.Duration, now func() time.Time) *pacer {
	if max <= 0 {
		return nil
	}
	until, _ := lru.New[string, time.Time](10000)
	return &pacer{max: max, now: now, until: until, held: make(chan struct{}, maxHeld)}
}

// refused is called before answering an overload refusal to a client with retryAfter. It pauses
// when the client was told to wait and has come back early.
func (p *pacer) refused(ctx context.Context, client string, retryAfter time.Duration) {
	if p == nil {
		return
	}
	now := p.now()
	p.mu.Lock()
	until, seen := p.until.Get(client)
	next := now.Add(retryAfter)
	if next.After(until) {
		p.until.Add(client, next)
	}
	p.mu.Unlock()
	if !seen || !now.Before(until) {
		return // a first refusal, or a client that waited as asked: answer at once
	}
	select {
	case p.held <- struct{}{}:
	default:
		return // too many paused already: answer at once rather than hold more
	}
	defer func() { <-p.held }()
	p.paused.Add(1)
	t := time.NewTimer(min(until.Sub(now), p.max))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
