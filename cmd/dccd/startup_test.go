package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sedcc/dcc/cmd/internal/setup"
	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer/store/pgtest"
)

// TestStartsWhileDatabaseIsDown: dccd started while PostgreSQL does not answer serves /healthz,
// fails /readyz, answers 503 store-unavailable with Retry-After, and becomes ready by itself once
// the database answers, without a restart.
func TestStartsWhileDatabaseIsDown(t *testing.T) {
	b := build(t)
	dbURL := pgtest.NewDatabase(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	// The database's address refuses connections until the proxy heals, as a database that is
	// down.
	fw, err := pgtest.NewProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fw.Close)
	fw.Refuse()
	viaProxy := *u
	viaProxy.Host = fw.Addr()
	data := t.TempDir()
	env := []string{"DCC_DATA_DIR=" + data, "DATABASE_URL=" + viaProxy.String(), "DCC_STORE_TIMEOUT=1s"}

	addr := freeAddr(t)
	cmd := exec.Command(b.dccd)
	cmd.Env = append(os.Environ(), append(env, "DCC_LISTEN="+addr, "DCC_LOG_FORMAT=json")...)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	base := "http://" + addr
	waitFor(t, done, logs, func() bool { return statusOf(base+"/healthz") == http.StatusOK })
	if got := statusOf(base + "/readyz"); got != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while the database is down: %d, want 503", got)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/observation",
		strings.NewReader(string(fhirtest.Observation(fhirtest.RAT, fhirtest.Now(time.Now())))))
	req.Header.Set("Authorization", "Bearer dcc_abcdefghijklmnop_"+strings.Repeat("A", 43))
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var oo struct {
		Issue []struct {
			Details struct {
				Coding []struct{ Code string }
			}
		}
	}
	_ = json.NewDecoder(resp.Body).Decode(&oo)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		len(oo.Issue) == 0 || len(oo.Issue[0].Details.Coding) == 0 || oo.Issue[0].Details.Coding[0].Code != "store-unavailable" {
		t.Fatalf("issuance while the database is down: %d Retry-After=%q %+v", resp.StatusCode, resp.Header.Get("Retry-After"), oo)
	}

	// The database comes back: ready without a restart, and issuing.
	if err := fw.Heal(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, done, logs, func() bool { return statusOf(base+"/readyz") == http.StatusOK })
	out, code := run(t, b.root, []string{"DCC_DATA_DIR=" + data, "DATABASE_URL=" + dbURL}, nil, b.dccctl,
		"provider", "add", "--name", "Provtagning Start", "--env", "sandbox", "--kinds", "test")
	if code != 0 {
		t.Fatalf("provider add: %d %s", code, out)
	}
	if status, m := post(t, base+"/api/v1/observation", lastLine(out), fhirtest.Observation(fhirtest.RAT, fhirtest.Now(time.Now()))); status != http.StatusOK {
		t.Fatalf("issuance once the database is back: %d %v", status, m)
	}
}

func statusOf(u string) int {
	resp, err := http.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitFor(t *testing.T, done <-chan error, logs *lockedBuffer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		select {
		case err := <-done:
			t.Fatalf("dccd exited: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached in 30s\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestRefusesSecretsOthersCanRead: a signing key or subject key open to group or others stops the
// start, naming the file and the chmod that fixes it.
func TestRefusesSecretsOthersCanRead(t *testing.T) {
	for _, file := range []string{"subject.key", "keys/sandbox/dsc.key"} {
		t.Run(file, func(t *testing.T) {
			data := t.TempDir()
			// A first start creates the development secrets, owner-only.
			ctx, cancel := context.WithCancel(context.Background())
			cfg, err := setup.FromEnv(func(k string) string { return map[string]string{"DCC_DATA_DIR": data, "DCC_LISTEN": "127.0.0.1:0"}[k] })
			if err != nil {
				t.Fatal(err)
			}
			ready := make(chan string, 1)
			errc := make(chan error, 1)
			go func() { errc <- serve(ctx, cfg, slog.New(slog.DiscardHandler), ready) }()
			select {
			case <-ready:
			case err := <-errc:
				t.Fatalf("first start: %v", err)
			}
			cancel()
			if err := <-errc; err != nil {
				t.Fatal(err)
			}

			path := filepath.Join(data, file)
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			code := runMain(t, map[string]string{"DCC_DATA_DIR": data, "DCC_LISTEN": "127.0.0.1:0"}, &stderr)
			if code == 0 || !strings.Contains(stderr.String(), "chmod 600 "+path) {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
		})
	}
}
