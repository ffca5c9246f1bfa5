package httpapi

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
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

// TestPacerBoundsItsPauses: beyond its bound of paused refusals a refusal is answered at once,
// and a pause ends with the request's context.
func TestPacerBoundsItsPauses(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	p := newPacer(time.Hour, func() time.Time { return now })
	p.held = make(chan struct{}, 1) // room for one paused refusal
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.refused(ctx, "k", time.Hour) // told to wait an hour
	first := make(chan struct{})
	go func() { p.refused(ctx, "k", time.Hour); close(first) }() // early: paused
	for p.paused.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan struct{})
	go func() { p.refused(context.Background(), "k", time.Hour); close(second) }()
	select {
	case <-second:
	case <-time.After(10 * time.Second):
		t.Fatal("a refusal beyond the bound was held")
	}
	if p.paused.Load() != 1 {
		t.Fatalf("%d paused, want 1", p.paused.Load())
	}
	cancel()
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("a paused refusal outlived its request")
	}
}

func TestPaceKey(t *testing.T) {
	if paceKey("p_a", "127.0.0.1:50001") != paceKey("p_a", "127.0.0.1:50002") {
		t.Error("a new connection from the same host escapes the pause")
	}
	if paceKey("p_a", "127.0.0.1:50001") == paceKey("p_b", "127.0.0.1:50001") {
		t.Error("two credentials share a pause")
	}
}

// TestClientAddressBehindProxies: X-Forwarded-For names the client only when the peer is a
// trusted proxy; otherwise the peer is the client, whatever the header says.
func TestClientAddressBehindProxies(t *testing.T) {
	_, proxies, _ := net.ParseCIDR("127.0.0.0/8")
	for _, tc := range []struct {
		name    string
		trusted []*net.IPNet
		want    string
	}{
		{"no trusted proxy", nil, "127.0.0.1"},
		{"behind a trusted proxy", []*net.IPNet{proxies}, "192.0.2.7"},
	} {
		s := New(Options{TrustedProxies: tc.trusted})
		req := httptest.NewRequest(http.MethodGet, "/ping", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("X-Forwarded-For", "192.0.2.7")
		c := s.echo.NewContext(req, httptest.NewRecorder())
		if got := c.RealIP(); got != tc.want {
			t.Errorf("%s: client %q, want %q", tc.name, got, tc.want)
		}
	}
}
