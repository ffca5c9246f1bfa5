package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
		{[]string{"--target", "http://127.0.0.1:1,http://127.0.0.1:2", "--key", "k"}, "need --record"},
		{[]string{"--target", "http://127.0.0.1:1,http://10.0.0.1:2", "--key", "k", "--record", "f"}, "only 127.0.0.0/8"},
		{[]string{"--target", "http://127.0.0.1:1,http://127.0.0.1:2", "--key", "k", "--record", "f"}, ""},
		{[]string{"--record", "f"}, "--record needs --target"},
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

// A request that one replica does not answer and another refuses with 503 is sent again with the
// same X-Request-ID until it is answered 200, and every 200 lands in the record.
func TestRecordRetriesOnTheNextTargetAndRecordsEvery200(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{} // X-Request-ID -> attempts that reached the server
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		mu.Lock()
		seen[id]++
		n := seen[id]
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient","details":{"coding":[{"code":"store-unavailable"}]}}]}`)
			return
		}
		io.WriteString(w, `{"testProof":{"metadata":{"uvci":"URN:UVCI:01:SE:`+id+`","hc1":"HC1:x"}}}`)
	}))
	defer live.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // connection refused from now on

	rec := filepath.Join(t.TempDir(), "acks.jsonl")
	var out strings.Builder
	code := run(context.Background(), []string{"--target", deadURL + "," + live.URL, "--key", "k", "--record", rec,
		"--path", "/api/v1/observation", "--clients", "2", "--max-requests", "6", "--measure", "20s", "--retry-pause", "1ms"}, &out, &out)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	raw, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 6 {
		t.Fatalf("record has %d lines, want 6:\n%s\n%s", len(lines), raw, out.String())
	}
	for _, l := range lines {
		var a Acknowledged
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatal(err)
		}
		if a.UVCI != "URN:UVCI:01:SE:"+a.RequestID || a.Identifier != a.RequestID || a.HC1 != "HC1:x" || a.Target != live.URL+"/api/v1/observation" {
			t.Errorf("record line %+v", a)
		}
		if a.Attempts < 2 || seen[a.RequestID] != 2 {
			t.Errorf("%s: %d attempts, %d reached the live server; want the 503 then the 200 on it", a.RequestID, a.Attempts, seen[a.RequestID])
		}
	}
}

func TestLongestGap(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	acks := []time.Time{t0.Add(3 * time.Second), t0, t0.Add(time.Second), t0.Add(8 * time.Second)}
	if gap, at := longestGap(acks); gap != 5*time.Second || !at.Equal(t0.Add(3*time.Second)) {
		t.Errorf("longestGap = %s at %s, want 5s at +3s", gap, at)
	}
	if gap, _ := longestGap(acks[:1]); gap != 0 {
		t.Errorf("one acknowledgement: gap %s", gap)
	}
}
