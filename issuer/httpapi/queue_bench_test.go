package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// serveOnce runs one request through the server's handler in process, so that the benchmark
// measures the server's work, not the loopback.
func serveOnce(b *testing.B, h http.Handler, accept string, cookies []*http.Cookie, want int) {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Accept", accept)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("status %d, want %d", rec.Code, want)
	}
}

// BenchmarkQueue: the cost of one request of a waiting citizen, who comes back with a ticket
// whose time has not come (the waiting page, and the API's JSON answer), against the landing
// page the same server serves to a citizen let in (the reference, measured in the same run).
func BenchmarkQueue(b *testing.B) {
	e := newEnv(b, "embedded", envOptions{citizens: true, queueRate: 0.001, queueBurst: 1})
	h := e.server.Config.Handler
	// The first visitor takes the only place due; its pass lets it in from then on.
	first := httptest.NewRecorder()
	h.ServeHTTP(first, httptest.NewRequest(http.MethodGet, "/", nil))
	admitted := first.Result().Cookies()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	waiting := rec.Result().Cookies()
	if rec.Code != http.StatusServiceUnavailable || len(waiting) < 2 {
		b.Fatalf("second visitor: %d %v", rec.Code, waiting)
	}
	b.Run("landing-page-admitted", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serveOnce(b, h, "text/html", admitted, http.StatusOK)
		}
	})
	b.Run("waiting-page", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serveOnce(b, h, "text/html", waiting, http.StatusServiceUnavailable)
		}
	})
	b.Run("waiting-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serveOnce(b, h, "application/json", waiting, http.StatusServiceUnavailable)
		}
	})
}
