package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir"
)

func TestCheckLoopback(t *testing.T) {
	for _, tc := range []struct {
		target string
		ok     bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://127.1.2.3:8080/", true},
		{"https://[::1]:8443", true},
		{"http://localhost:8080", true},
		{"http://LOCALHOST", true},
		{"http://10.0.0.1:8080", false},
		{"http://192.168.1.10", false},
		{"http://[::ffff:10.0.0.1]:80", false},
		{"http://0.0.0.0:8080", false},
		{"http://dcc.example.se", false},
		{"http://localhost.example.se", false},
		{"ftp://127.0.0.1", false},
		{"127.0.0.1:8080", false},
	} {
		err := checkLoopback(tc.target)
		if (err == nil) != tc.ok {
			t.Errorf("checkLoopback(%q) = %v, want ok=%v", tc.target, err, tc.ok)
		}
	}
}

func TestClientRefusesToDialBeyondLoopback(t *testing.T) {
	c := newClient(1, time.Second)
	// 192.0.2.1 is TEST-NET-1: the dial hook refuses it before any packet is sent.
	_, err := c.Get("http://192.0.2.1:9/")
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("GET beyond loopback: %v, want a refusal", err)
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // empty: valid
	}{
		{nil, ""},
		{[]string{"--target", "http://127.0.0.1:8080", "--key", "k"}, ""},
		{[]string{"--target", "http://10.1.1.1:8080", "--key", "k"}, "only 127.0.0.0/8"},
		{[]string{"--target", "http://127.0.0.1:8080"}, "needs --key"},
		{[]string{"--rush", "2h"}, "at most 1h"},
		{[]string{"--clients", "0", "--rush-clients", "5"}, "at least 1"},
		{[]string{"--path", "observation"}, "start with /"},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("parseFlags(%q): %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("parseFlags(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		case tc.args == nil && (o.clients != 32 || o.rushClients != 320 || o.measure != 20*time.Second || o.rush != time.Minute):
			t.Errorf("defaults = %+v", o)
		}
	}
}

func TestBodiesAreValidAndUnique(t *testing.T) {
	now := time.Date(2022, 2, 14, 9, 0, 0, 0, time.UTC)
	b, err := newBodies("191212121212", func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	parser := fhir.NewParser(fhir.Options{Now: func() time.Time { return now }})
	seen := map[string]bool{}
	for range 100 {
		body := b.observation()
		if _, err := parser.Test(body); err != nil {
			t.Fatalf("body refused by the parser: %v\n%s", err, body)
		}
		var obs struct {
			Identifier []struct {
				Value string `json:"value"`
			} `json:"identifier"`
			Effective string `json:"effectiveDateTime"`
		}
		if err := json.Unmarshal(body, &obs); err != nil {
			t.Fatal(err)
		}
		id := obs.Identifier[0].Value
		if seen[id] {
			t.Fatalf("identifier %s used twice", id)
		}
		seen[id] = true
		if obs.Effective != "2022-02-14T08:00:00Z" {
			t.Fatalf("sampled at %s, want an hour before now", obs.Effective)
		}
	}
	other, _ := newBodies("191212121212", func() time.Time { return now })
	if strings.Contains(string(other.observation()), b.run) {
		t.Fatal("two runs share identifiers")
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

func TestPercentile(t *testing.T) {
	v := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for p, want := range map[float64]int{0: 1, 10: 1, 50: 5, 99: 10, 99.9: 10, 100: 10} {
		if got := percentile(v, p); got != want {
			t.Errorf("percentile(%v) = %d, want %d", p, got, want)
		}
	}
	if got := percentile([]int(nil), 50); got != 0 {
		t.Errorf("percentile of nothing = %d", got)
	}
}

const overloadedBody = `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient",` +
	`"details":{"coding":[{"system":"https://dcc.se/fhir/CodeSystem/problem","code":"overloaded"}],"text":"later"}}]}`

// TestLoadCountsAnswers runs a short phase against a stand-in that admits every third request
// and refuses the others in the ways a server may: cleanly, without Retry-After, with a bare body.
func TestLoadCountsAnswers(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k" || r.URL.Path != "/observation" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		switch n.Add(1) % 6 {
		case 0, 3:
			w.Write([]byte(`{"testProof":{}}`))
		case 1, 4:
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(overloadedBody))
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("busy"))
		case 5:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	b, err := newBodies("191212121212", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	l := load{client: newClient(4, 10*time.Second), url: srv.URL + "/observation", key: "k", bodies: b,
		clients: 4, duration: time.Hour, max: 600}
	r := l.run(context.Background())
	if r.requests != 600 {
		t.Fatalf("%d requests, want the 600 of --max-requests", r.requests)
	}
	if r.byStatus[200] != 200 || r.byStatus[503] != 300 || r.byStatus[500] != 100 || len(r.admitted) != 200 {
		t.Fatalf("statuses %v, admitted %d", r.byStatus, len(r.admitted))
	}
	if len(r.rejected) != 300 || r.withRetryAfter != 200 || r.withOutcome != 200 || r.overloaded != 200 {
		t.Fatalf("rejections %d, with Retry-After %d, with OperationOutcome %d, overloaded %d",
			len(r.rejected), r.withRetryAfter, r.withOutcome, r.overloaded)
	}
	probs := strings.Join(r.problems(), "; ")
	for _, want := range []string{"100 answers with status 500", "300 rejections, of which 200 with Retry-After"} {
		if !strings.Contains(probs, want) {
			t.Errorf("problems %q lack %q", probs, want)
		}
	}
	var out strings.Builder
	r.report(&out, "test")
	for _, want := range []string{"200: 200 500: 100 503: 300", "Retry-After (s)   min 2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestLoadCleanRunHasNoProblems(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(overloadedBody))
	}))
	defer srv.Close()
	b, _ := newBodies("191212121212", time.Now)
	l := load{client: newClient(2, 10*time.Second), url: srv.URL, key: "k", bodies: b, clients: 2, duration: time.Hour, max: 50}
	r := l.run(context.Background())
	if p := r.problems(); len(p) != 0 || r.requests != 50 {
		t.Fatalf("%d requests, problems %v", r.requests, p)
	}
}

func TestLoadStopsAtDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	b, _ := newBodies("191212121212", time.Now)
	l := load{client: newClient(2, 10*time.Second), url: srv.URL, key: "k", bodies: b, clients: 2,
		duration: 50 * time.Millisecond, max: 1 << 40}
	// Without the deadline this would send 2^40 requests and never return.
	if r := l.run(context.Background()); r.requests == 0 {
		t.Fatal("no requests sent")
	}
}
