package probe

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDependencyLight(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" || r.URL.Query().Get("format") != "json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"yellow","dependencies":[{"name":"store","status":"green"},{"name":"audit-spool","status":"yellow"}]}`))
	}))
	for name, want := range map[string]string{"store": "green", "audit-spool": "yellow", "register": "absent"} {
		if got := DependencyLight(srv.URL, name, time.Second); got != want {
			t.Errorf("DependencyLight(%q) = %q, want %q", name, got, want)
		}
	}
	if got := DependencyLight(srv.URL+"/elsewhere", "store", time.Second); got != "unreadable (404)" {
		t.Errorf("a page that is not /status: %q", got)
	}
	srv.Close()
	if got := DependencyLight(srv.URL, "store", time.Second); got != "unreachable" {
		t.Errorf("a closed server: %q", got)
	}
}

func TestParseStatus(t *testing.T) {
	rss, peak, err := parseStatus(strings.NewReader("Name:\tdccd\nVmPeak:\t 1000 kB\nVmHWM:\t   69000 kB\nVmRSS:\t   48000 kB\nThreads:\t9\n"))
	if err != nil || rss != 48000<<10 || peak != 69000<<10 {
		t.Fatalf("parseStatus = %d, %d, %v", rss, peak, err)
	}
	if _, _, err := parseStatus(strings.NewReader("Name:\tdccd\n")); err == nil {
		t.Fatal("status without memory lines accepted")
	}
}

func TestProcessMemory(t *testing.T) {
	if rss, peak, err := ProcessMemory(os.Getpid()); err != nil || rss <= 0 || peak < rss {
		t.Fatalf("ProcessMemory of this process: %d, %d, %v", rss, peak, err)
	}
	if _, _, err := ProcessMemory(-1); err == nil {
		t.Error("ProcessMemory of no process: no error")
	}
}

func TestProcessCPU(t *testing.T) {
	// A fresh test process may not have used a clock tick yet.
	for deadline := time.Now().Add(10 * time.Second); ProcessCPU(os.Getpid()) == 0 && time.Now().Before(deadline); {
	}
	before := ProcessCPU(os.Getpid())
	if before <= 0 {
		t.Fatalf("processor time of this test process %s, want above zero", before)
	}
	// Busy work until the clock-tick counters move (bounded, on a shared machine).
	deadline := time.Now().Add(10 * time.Second)
	for ProcessCPU(os.Getpid()) == before && time.Now().Before(deadline) {
		for i := 0; i < 1e6; i++ {
			_ = i * i
		}
	}
	if after := ProcessCPU(os.Getpid()); after <= before {
		t.Errorf("processor time %s after busy work, %s before", after, before)
	}
	if ProcessCPU(-1) != 0 {
		t.Error("processor time of no process is not zero")
	}
}

func TestMetric(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("# HELP dcc_x x\ndcc_x 3\ndcc_x_total 7\ndcc_y{way=\"direct\"} 2.5\n"))
	}))
	defer srv.Close()
	for name, want := range map[string]float64{"dcc_x": 3, "dcc_x_total": 7, `dcc_y{way="direct"}`: 2.5, "dcc_z": -1} {
		if got := Metric(srv.URL, name, time.Second); got != want {
			t.Errorf("Metric(%q) = %v, want %v", name, got, want)
		}
	}
}
