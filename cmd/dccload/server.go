package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// server is a dccd this tool built and started.
type server struct {
	cmd    *exec.Cmd
	url    string
	log    string
	exited chan error
}

// serverEnv is the tool's environment with the data directory and the listen address replaced,
// so settings such as DCC_ISSUE_CONCURRENCY reach the server. The per-credential rate limit and
// the per-credential share of admission slots are switched off unless the environment sets them:
// the tool's one credential stands for the many providers of a real rush, and the rush is meant
// to meet admission control.
func serverEnv(dataDir, listen string, extra ...string) []string {
	var env []string
	rateSet, slotsSet := false, false
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DCC_DATA_DIR=") || strings.HasPrefix(kv, "DCC_LISTEN=") {
			continue
		}
		rateSet = rateSet || strings.HasPrefix(kv, "DCC_PROVIDER_RATE=")
		slotsSet = slotsSet || strings.HasPrefix(kv, "DCC_ISSUE_PER_CREDENTIAL=")
		env = append(env, kv)
	}
	if !rateSet {
		env = append(env, "DCC_PROVIDER_RATE=0")
	}
	if !slotsSet {
		// Nor is one credential held to its share of the admission slots: it stands for many.
		env = append(env, "DCC_ISSUE_PER_CREDENTIAL=4096")
	}
	env = append(env, "DCC_DATA_DIR="+dataDir)
	env = append(env, extra...)
	if listen != "" {
		env = append(env, "DCC_LISTEN="+listen)
	}
	return env
}

// buildServer compiles ./cmd/dccd of the module at repo into dir.
func buildServer(ctx context.Context, repo, dir string) (string, error) {
	bin := filepath.Join(dir, "dccd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/dccd")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/dccd: %w\n%s", err, out)
	}
	return bin, nil
}

// freeLoopbackAddr asks the kernel for a free port on 127.0.0.1.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return addr, nil
}

// startServer runs bin on a free loopback port with dataDir and waits until /healthz answers.
// Its output goes to dccd.log beside the data directory.
func startServer(ctx context.Context, bin, dataDir string, extra ...string) (*server, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(filepath.Dir(dataDir), "dccd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	cmd := exec.Command(bin)
	cmd.Env = serverEnv(dataDir, addr, extra...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start dccd: %w", err)
	}
	s := &server{cmd: cmd, url: "http://" + addr, log: logPath, exited: make(chan error, 1)}
	go func() {
		s.exited <- cmd.Wait()
		logf.Close()
	}()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := hc.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case err := <-s.exited:
			return nil, fmt.Errorf("dccd exited before serving (%v); see %s:\n%s", err, logPath, tail(logPath, 20))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("dccd did not answer /healthz within 60 s; see %s", logPath)
		}
	}
}

// pid is the server's process id.
func (s *server) pid() int { return s.cmd.Process.Pid }

// stop asks the server to shut down gracefully and kills it when it has not within 30 s.
func (s *server) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop dccd: %w", err)
	}
	select {
	case err := <-s.exited:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			return fmt.Errorf("dccd: %w", err)
		}
		if err != nil {
			return fmt.Errorf("dccd ended with %w; see %s", err, s.log)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("dccd did not stop within 30 s of SIGTERM and was killed")
	}
}

// addProvider creates a sandbox provider in dataDir with dccctl and returns its API key, the
// last line dccctl prints.
func addProvider(ctx context.Context, repo, dataDir string, extra ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "run", "./cmd/dccctl", "provider", "add",
		"--name", "load", "--env", "sandbox", "--kinds", "test,recovery,vaccination")
	cmd.Dir = repo
	cmd.Env = serverEnv(dataDir, "", extra...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("dccctl provider add: %w\n%s", err, stderr.String())
	}
	key := lastLine(string(out))
	if key == "" {
		return "", errors.New("dccctl provider add printed no key")
	}
	return key, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// tail returns the last n lines of a file, for a failure message.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
