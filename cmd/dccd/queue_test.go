package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/cmd/internal/setup"
	"github.com/sedcc/dcc/issuer/store/pgtest"
)

// serveUntilEnd runs dccd's serve with cfg until the test ends and returns its URL.
func serveUntilEnd(t *testing.T, cfg setup.Config) string {
	t.Helper()
	sctx, stop := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(sctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case addr := <-ready:
		// The store may still be migrating: until it is ready, newcomers are answered 503
		// store-unavailable (no place can be reserved).
		u := "http://" + addr
		for deadline := time.Now().Add(30 * time.Second); statusOf(u+"/readyz") != http.StatusOK; {
			if time.Now().After(deadline) {
				t.Fatal("dccd not ready")
			}
			time.Sleep(50 * time.Millisecond)
		}
		return u
	case err := <-done:
		done <- nil // the cleanup reads it
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("dccd did not start")
	}
	return ""
}

func visit(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func browserClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// Two replicas over one PostgreSQL database, configured by DCC_QUEUE_RATE, share one line: a
// ticket from one is honoured by the other, whose newcomers queue behind it; the queue is on
// /metrics and /status.
func TestQueueAcrossReplicas(t *testing.T) {
	db := pgtest.NewDatabase(t)
	shared := t.TempDir()
	// The second replica reads the first one's subject key, which the queue's key derives from.
	config := func(dir, subjectKey string) setup.Config {
		cfg, err := setup.FromEnv(func(name string) string {
			return map[string]string{"DCC_DATA_DIR": dir, "DATABASE_URL": db, "DCC_LISTEN": "127.0.0.1:0",
				"DCC_QUEUE_RATE": "1", "DCC_QUEUE_BURST": "1", "DCC_STATUS_INTERVAL": "1s",
				"DCC_SUBJECT_KEY_FILE": subjectKey}[name]
		})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	a := serveUntilEnd(t, config(shared, ""))
	b := serveUntilEnd(t, config(t.TempDir(), filepath.Join(shared, "subject.key")))

	if code, body := visit(t, browserClient(t), a+"/"); code != http.StatusOK {
		t.Fatalf("first visitor: %d %s", code, body)
	}
	waiting := browserClient(t)
	code, body := visit(t, waiting, a+"/?lang=en")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `<dd id="queue-position">1</dd>`) {
		t.Fatalf("second visitor at replica A: %d %s", code, body)
	}
	ua, _ := url.Parse(a)
	ub, _ := url.Parse(b)
	moved := browserClient(t)
	moved.Jar.SetCookies(ub, waiting.Jar.Cookies(ua))
	if code, body := visit(t, moved, b+"/?lang=en"); code != http.StatusServiceUnavailable || !strings.Contains(body, `<dd id="queue-position">`) {
		t.Fatalf("the ticket at replica B: %d %s", code, body)
	}
	if code, body := visit(t, browserClient(t), b+"/?lang=en"); code != http.StatusServiceUnavailable || strings.Contains(body, `<dd id="queue-position">1</dd>`) {
		t.Fatalf("a newcomer at replica B is not behind A's: %d %s", code, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _ := visit(t, moved, b+"/")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A's ticket never let in at B: %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, m := visit(t, http.DefaultClient, b+"/metrics"); !strings.Contains(m, "dcc_queue_length") || !strings.Contains(m, `dcc_queue_admitted_total{way="ticket"} 1`) {
		t.Errorf("replica B's metrics lack the queue")
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		_, st := visit(t, browserClient(t), b+"/status")
		if strings.Contains(st, "Citizens&#39; queue") || strings.Contains(st, "Citizens' queue") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/status has no queue light:\n%s", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
