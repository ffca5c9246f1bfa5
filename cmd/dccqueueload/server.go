package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is a running dccd.
type server struct {
	cmd  *exec.Cmd
	url  string
	keys []string // sandbox providers' API keys, one per provider client
	logs *os.File
}

// build compiles dccd and dccctl from the module this program runs in, unless given.
func build(ctx context.Context, o *options, dir string) error {
	for _, b := range []struct {
		dst *string
		pkg string
	}{{&o.dccd, "./cmd/dccd"}, {&o.dccctl, "./cmd/dccctl"}} {
		if *b.dst != "" {
			continue
		}
		out := filepath.Join(dir, filepath.Base(b.pkg))
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, b.pkg)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s (run from the module's root, or pass --dccd and --dccctl): %w\n%s", b.pkg, err, msg)
		}
		*b.dst = out
	}
	return nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start creates a provider in a fresh data directory and starts dccd over it with the queue at
// rate, providers unthrottled (their own admission budget still applies), logs at warning level.
func start(ctx context.Context, o options, dir string) (*server, error) {
	data := filepath.Join(dir, "data")
	env := append(os.Environ(), "DCC_DATA_DIR="+data)
	// One credential per provider client, as separate clinics: a credential's share of the
	// issuance slots is bounded (DCC_ISSUE_PER_CREDENTIAL).
	var keys []string
	for i := range max(1, o.providers) {
		add := exec.CommandContext(ctx, o.dccctl, "provider", "add", "--name", fmt.Sprintf("Queue load clinic %d", i), "--env", "sandbox", "--kinds", "test")
		add.Env = env
		out, err := add.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("dccctl provider add: %w\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		keys = append(keys, strings.TrimSpace(lines[len(lines)-1]))
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	logs, err := os.Create(filepath.Join(dir, "dccd.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.dccd)
	cmd.Env = append(env, "DCC_LISTEN="+addr, "DCC_QUEUE_RATE="+strconv.FormatFloat(o.rate, 'f', -1, 64),
		// Every visitor comes from 127.0.0.1: no limit of places per address.
		"DCC_QUEUE_ADDRESS_RATE=0", "DCC_PROVIDER_RATE=0", "DCC_LOG_LEVEL=warn", "DCC_LOG_FORMAT=json")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		logs.Close()
		return nil, fmt.Errorf("start dccd: %w", err)
	}
	s := &server{cmd: cmd, url: "http://" + addr, keys: keys, logs: logs}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("dccd not ready at %s (log: %s)", s.url, logs.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.logs.Close()
}
