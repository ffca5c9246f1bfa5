package httpapi

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestPacerPausesOnlyEarlyReturns: a first refusal and a client that waited as told are answered
// at once; a credential that comes back before its Retry-After is paused, at most max; other
// connections are not affected; the pauses are bounded.
func TestPacerPausesOnlyEarlyReturns(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	p := newPacer(20*time.Millisecond, clock)
	ctx := context.Background()

	p.refused(ctx, "127.0.0.1:50001", 5*time.Second)
	if p.paused.Load() != 0 {
		t.Fatal("a first refusal was paused")
	}
	p.refused(ctx, "127.0.0.1:50002", 5*time.Second)
	if p.paused.Load() != 0 {
		t.Fatal("another connection's first refusal was paused")
	}
	advance(time.Second)
	p.refused(ctx, "127.0.0.1:50001", 5*time.Second) // back after 1 s of the 5 s it was told
	if p.paused.Load() != 1 {
		t.Fatalf("an early return was not paused (%d)", p.paused.Load())
	}
	advance(10 * time.Second)
	p.refused(ctx, "127.0.0.1:50001", 5*time.Second) // waited as told
	if p.paused.Load() != 1 {
		t.Fatal("a client that waited as told was paused")
	}

	// A cancelled request is not held for the pause.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	long := newPacer(time.Hour, clock)
	long.refused(cctx, "127.0.0.1:50003", time.Hour)
	done := make(chan struct{})
	go func() { long.refused(cctx, "127.0.0.1:50003", time.Hour); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled request was held for the pause")
	}

	if newPacer(0, clock) != nil {
		t.Fatal("pacing with no pause is not off")
	}
	var off *pacer
	off.refused(ctx, "127.0.0.1:50001", time.Second) // nil pacer: nothing happens
}
