// Command dccload checks that dccd holds its planned load and sheds a rush cleanly.
//
// It starts its own dccd (built from ./cmd/dccd, with a fresh data directory and a sandbox
// provider created by dccctl), or loads one already running on this machine (--target, --key).
// Phase one measures capacity at a moderate number of clients; phase two offers ten times as
// many clients. For each it prints the status counts, the admitted throughput, the latency of
// admitted requests, how the rejections were answered, and the server's memory.
//
// It loads loopback servers only, and every phase is bounded in time and in request count.
//
//	go run ./cmd/dccload                       # build, start, measure 20 s with 32 clients, rush 60 s with 320
//	go run ./cmd/dccload --measure 5s --rush 10s
//	go run ./cmd/dccload --target http://127.0.0.1:8080 --key KEY [--pid PID]
//	go run ./cmd/dccload --target http://127.0.0.1:8081,http://127.0.0.1:8082 --key KEY \
//	    --path /api/v1/observation --record acks.jsonl --measure 60s --clients 8
//
// The last form (record mode) is the load of the failover proof (cmd/dccha): continuous issuance
// round robin over several replicas, each 200 written to a file so that none can go missing
// unnoticed; see record.go.
//
// The server it starts inherits the environment, so DCC_ISSUE_CONCURRENCY=64 go run
// ./cmd/dccload tries another setting; the per-credential rate limit is off
// (DCC_PROVIDER_RATE=0) unless the environment sets it, since the tool's one credential stands for
// the many providers of a real rush. Exit status 1 means the server broke its promise under
// load (failures other than 503 overloaded, transport errors, refusals without Retry-After or
// OperationOutcome) or could not be started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	dccprobe "github.com/sedcc/dcc/cmd/internal/probe"
)

type options struct {
	target          string
	key             string
	pid             int
	repo            string
	path            string
	pnr             string
	clients         int
	measure         time.Duration
	rushClients     int
	rush            time.Duration
	max             uint64
	timeout         time.Duration
	honorRetryAfter bool
	keep            bool
	compare         bool
	peer            string
	record          string
	retryPause      time.Duration
	targets         []string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("dccload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.target, "target", "", "URL of a running dccd on this machine; empty: build and start one")
	fs.StringVar(&o.key, "key", "", "provider API key (required with --target; created with dccctl otherwise)")
	fs.IntVar(&o.pid, "pid", 0, "process id of the --target server, to report its memory")
	fs.StringVar(&o.repo, "repo", ".", "module root holding ./cmd/dccd and ./cmd/dccctl")
	fs.StringVar(&o.path, "path", "/observation", "route to post the test results to")
	fs.StringVar(&o.pnr, "pnr", "191212121212", "personnummer of the tested person (development population)")
	fs.IntVar(&o.clients, "clients", 32, "concurrent clients of the capacity phase")
	fs.DurationVar(&o.measure, "measure", 20*time.Second, "length of the capacity phase")
	fs.IntVar(&o.rushClients, "rush-clients", 0, "concurrent clients of the rush phase (default 10 x --clients)")
	fs.DurationVar(&o.rush, "rush", 60*time.Second, "length of the rush phase; 0 skips it")
	fs.Uint64Var(&o.max, "max-requests", 2_000_000, "most requests one phase sends")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "client timeout of one request")
	fs.BoolVar(&o.honorRetryAfter, "honor-retry-after", false, "clients wait the Retry-After of a rejection (default: they retry at once, the worst case)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (data, server log)")
	fs.BoolVar(&o.compare, "compare", false, "side by side: the peer, dccd on the embedded store and dccd on PostgreSQL, each for --measure with --clients, then each dccd at 80% of its peak")
	fs.StringVar(&o.peer, "peer", "../shared/peers/hcert/hcert", "the peer's hcert binary for --compare (relative to --repo)")
	fs.StringVar(&o.record, "record", "", "record mode: issue continuously round robin over the --target list for --measure (or until interrupted), "+
		"send a request that is not answered or refused with 503/429 again to the next target with the same X-Request-ID, and write every 200 to this file (JSON lines)")
	fs.DurationVar(&o.retryPause, "retry-pause", 100*time.Millisecond, "record mode: pause before sending a refused or unanswered request again")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.rushClients == 0 {
		o.rushClients = 10 * o.clients
	}
	var errs []error
	if o.clients < 1 || o.rushClients < 1 {
		errs = append(errs, errors.New("--clients and --rush-clients must be at least 1"))
	}
	if o.measure <= 0 || o.measure > time.Hour || o.rush < 0 || o.rush > time.Hour {
		errs = append(errs, errors.New("--measure must be above 0 and --rush at least 0, both at most 1h"))
	}
	if o.max < 1 {
		errs = append(errs, errors.New("--max-requests must be at least 1"))
	}
	if o.timeout <= 0 {
		errs = append(errs, errors.New("--timeout must be above 0"))
	}
	if !strings.HasPrefix(o.path, "/") {
		errs = append(errs, errors.New("--path must start with /"))
	}
	if o.target != "" {
		for _, t := range strings.Split(o.target, ",") {
			t = strings.TrimRight(strings.TrimSpace(t), "/")
			if err := checkLoopback(t); err != nil {
				errs = append(errs, err)
			}
			o.targets = append(o.targets, t)
		}
		if o.key == "" {
			errs = append(errs, errors.New("--target needs --key"))
		}
		if len(o.targets) > 1 && o.record == "" {
			errs = append(errs, errors.New("several --target URLs need --record"))
		}
	}
	if o.record != "" && o.target == "" {
		errs = append(errs, errors.New("--record needs --target (one URL or several, comma-separated) and --key"))
	}
	if o.retryPause < 0 {
		errs = append(errs, errors.New("--retry-pause must be at least 0"))
	}
	return o, errors.Join(errs...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "dccload: %v\n", err)
		return 2
	}
	if o.compare {
		return compareMode(ctx, o, stdout, stderr)
	}
	if o.record != "" {
		return recordRun(ctx, o, o.targets, o.key, stdout, stderr)
	}
	target, key, pid := strings.TrimRight(o.target, "/"), o.key, o.pid
	if target == "" {
		dir, err := os.MkdirTemp("", "dccload-")
		if err != nil {
			fmt.Fprintf(stderr, "dccload: %v\n", err)
			return 1
		}
		if o.keep {
			fmt.Fprintf(stdout, "data and server log kept in %s\n", dir)
		} else {
			defer os.RemoveAll(dir)
		}
		srv, k, err := setUp(ctx, o, dir, stdout)
		if err != nil {
			fmt.Fprintf(stderr, "dccload: %v\n", err)
			return 1
		}
		defer func() {
			if err := srv.stop(); err != nil {
				fmt.Fprintf(stderr, "dccload: %v\n", err)
			}
		}()
		target, pid = srv.url, srv.pid()
		if key == "" {
			key = k
		}
	}
	if err := checkLoopback(target); err != nil {
		fmt.Fprintf(stderr, "dccload: %v\n", err)
		return 2
	}
	return loadPhases(ctx, o, target+o.path, key, pid, stdout, stderr)
}

// setUp builds and starts dccd in dir and creates a sandbox provider for it.
func setUp(ctx context.Context, o options, dir string, stdout io.Writer) (*server, string, error) {
	fmt.Fprintln(stdout, "building dccd ...")
	bin, err := buildServer(ctx, o.repo, dir)
	if err != nil {
		return nil, "", err
	}
	dataDir := filepath.Join(dir, "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("data directory: %w", err)
	}
	srv, err := startServer(ctx, bin, dataDir)
	if err != nil {
		return nil, "", err
	}
	fmt.Fprintf(stdout, "dccd %d serving on %s, log %s\n", srv.pid(), srv.url, srv.log)
	key := o.key
	if key == "" {
		fmt.Fprintln(stdout, "creating a sandbox provider with dccctl ...")
		if key, err = addProvider(ctx, o.repo, dataDir); err != nil {
			_ = srv.stop()
			return nil, "", err
		}
	}
	return srv, key, nil
}

// loadPhases checks one request, then runs the capacity phase and the rush, and reports.
func loadPhases(ctx context.Context, o options, url, key string, pid int, stdout, stderr io.Writer) int {
	bodies, err := newBodies(o.pnr, time.Now)
	if err != nil {
		fmt.Fprintf(stderr, "dccload: %v\n", err)
		return 1
	}
	client := newClient(o.rushClients+o.clients, o.timeout)
	base := load{client: client, url: url, key: key, bodies: bodies, max: o.max, honorRetryAfter: o.honorRetryAfter}

	probe := base
	probe.clients, probe.duration, probe.max = 1, time.Minute, 1
	if r := probe.run(ctx); r.byStatus[200] != 1 {
		r.report(stdout, "probe")
		fmt.Fprintf(stderr, "dccload: a single request to %s was not answered 200; fix that before loading\n", url)
		return 1
	}

	var failed []string
	phases := []struct {
		name    string
		clients int
		d       time.Duration
	}{{"capacity", o.clients, o.measure}, {"rush", o.rushClients, o.rush}}
	var capacity float64
	for _, ph := range phases {
		if ph.d == 0 || ctx.Err() != nil {
			continue
		}
		fmt.Fprintf(stdout, "\n%s phase: %d clients for %s against %s ...\n", ph.name, ph.clients, ph.d, url)
		l := base
		l.clients, l.duration = ph.clients, ph.d
		peak := watchMemory(pid)
		r := l.run(ctx)
		r.report(stdout, ph.name)
		if pid > 0 {
			fmt.Fprintf(stdout, "server RSS        peak during phase %s\n", mib(peak()))
		}
		admitted := float64(len(r.admitted)) / r.elapsed.Seconds()
		if ph.name == "capacity" {
			capacity = admitted
		} else if capacity > 0 {
			fmt.Fprintf(stdout, "rush / capacity   %.0f%% of the measured admitted throughput held\n", 100*admitted/capacity)
		}
		for _, p := range r.problems() {
			failed = append(failed, ph.name+": "+p)
		}
	}
	if pid > 0 {
		if rss, hwm, err := dccprobe.ProcessMemory(pid); err == nil {
			fmt.Fprintf(stdout, "\nserver memory     VmHWM (peak RSS) %s, VmRSS now %s\n", mib(hwm), mib(rss))
		} else {
			fmt.Fprintf(stderr, "dccload: %v\n", err)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintln(stdout, "\nFAIL")
		for _, f := range failed {
			fmt.Fprintln(stdout, "  "+f)
		}
		return 1
	}
	fmt.Fprintln(stdout, "\nOK: every answer was 200 or a refusal with Retry-After and an OperationOutcome")
	return 0
}

// watchMemory samples the resident set of pid every 100 ms until the returned function is
// called, which stops sampling and returns the highest value seen.
func watchMemory(pid int) func() int64 {
	if pid <= 0 {
		return func() int64 { return 0 }
	}
	stop := make(chan struct{})
	var (
		mu   sync.Mutex
		peak int64
		wg   sync.WaitGroup
	)
	sample := func() {
		if rss, _, err := dccprobe.ProcessMemory(pid); err == nil {
			mu.Lock()
			peak = max(peak, rss)
			mu.Unlock()
		}
	}
	wg.Go(func() {
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			sample()
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	})
	return func() int64 {
		close(stop)
		wg.Wait()
		sample()
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
