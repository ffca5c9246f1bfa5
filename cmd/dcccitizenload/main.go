// Command dcccitizenload measures a citizen's authenticated fetch of one certificate's JSON side
// by side with a bare echo handler that returns a fixed body of the same size, on the same
// machine in the same run: throughput and latency at moderate concurrency, then p99 and the
// server's peak memory with 5,000 concurrent connections.
//
// Each server runs in its own child process (this program started again with --serve), so that
// its memory is its own. The citizen server is the real one: embedded store in a temporary
// directory, development keys, the stand-in identity provider in the same child, the citizens'
// admission budget and document cache as dccd configures them; one certificate is issued through
// the provider API first and fetched with an access token of the stand-in.
//
//	go run ./cmd/dcccitizenload [--clients 64] [--measure 10s] [--conns 5000] [--hold 15s]
//
// It loads loopback servers only, and every phase is bounded in time.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	serve   string // child mode: "citizen" or "echo"
	size    int    // echo body size
	clients int
	measure time.Duration
	conns   int
	hold    time.Duration
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("dcccitizenload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.serve, "serve", "", "internal: run one server (citizen or echo) and print its address")
	fs.IntVar(&o.size, "size", 0, "internal: the echo body's size")
	fs.IntVar(&o.clients, "clients", 64, "concurrent clients of the throughput phase")
	fs.DurationVar(&o.measure, "measure", 10*time.Second, "length of the throughput phase")
	fs.IntVar(&o.conns, "conns", 5000, "concurrent connections of the connection phase")
	fs.DurationVar(&o.hold, "hold", 15*time.Second, "length of the connection phase")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.clients < 1 || o.conns < 1 || o.measure <= 0 || o.hold <= 0 || o.measure > 10*time.Minute || o.hold > 10*time.Minute {
		return o, errors.New("--clients and --conns at least 1; --measure and --hold above 0, at most 10m")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "dcccitizenload:", err)
		return 2
	}
	switch o.serve {
	case "citizen":
		err = serveCitizen(ctx, stdout)
	case "echo":
		err = serveEcho(ctx, o.size, stdout)
	case "":
		err = compare(ctx, o, stdout)
	default:
		err = fmt.Errorf("--serve %q: want citizen or echo", o.serve)
	}
	if err != nil {
		fmt.Fprintln(stderr, "dcccitizenload:", err)
		return 1
	}
	return 0
}

// ready is what a child prints once it serves.
type ready struct {
	Addr  string `json:"addr"`
	Path  string `json:"path"`
	Token string `json:"token,omitempty"`
	Size  int    `json:"size"`
}

// child is a running server process.
type child struct {
	cmd   *exec.Cmd
	ready ready
}

func startChild(ctx context.Context, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %v: %w", args, err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%v did not start: %w", args, err)
	}
	var r ready
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%v printed %q: %w", args, strings.TrimSpace(line), err)
	}
	return &child{cmd: cmd, ready: r}, nil
}

func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}
