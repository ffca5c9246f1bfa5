package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// TestPacedLoadKeepsItsRate: with a rate, the clients together send about that many requests a
// second, however many clients there are and however fast the server answers.
func TestPacedLoadKeepsItsRate(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
	}))
	defer srv.Close()
	l := load{client: srv.Client(), clients: 16, duration: time.Second, max: 100000, rate: 200,
		makeRequest: func() (*http.Request, error) { return http.NewRequest(http.MethodPost, srv.URL, nil) }}
	r := l.run(context.Background())
	if got := r.byStatus[200]; got < 120 || got > 230 {
		t.Errorf("%d answers in %s at 200 a second", got, r.elapsed)
	}
	if int64(r.requests) != n.Load() {
		t.Errorf("tallied %d requests, the server saw %d", r.requests, n.Load())
	}
}

func TestProcessCPU(t *testing.T) {
	before := processCPU(os.Getpid())
	if before <= 0 {
		t.Fatalf("processor time of this test process %s, want above zero", before)
	}
	// Busy work until the clock-tick counters move (bounded, on a shared machine).
	deadline := time.Now().Add(10 * time.Second)
	for processCPU(os.Getpid()) == before && time.Now().Before(deadline) {
		for i := 0; i < 1e6; i++ {
			_ = i * i
		}
	}
	if after := processCPU(os.Getpid()); after <= before {
		t.Errorf("processor time %s after busy work, %s before", after, before)
	}
	if processCPU(-1) != 0 {
		t.Error("processor time of no process is not zero")
	}
}
