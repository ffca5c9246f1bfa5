package main

import (
	"context"
	"net/http"
	"net/http/httptest"
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
