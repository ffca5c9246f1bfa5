// Command dccha runs the high-availability topology on loopback and proves its failover.
//
// The topology: one etcd, three PostgreSQL 15 nodes managed by Patroni (synchronous replication
// in strict mode, so that a commit acknowledged to a provider is on two nodes) and two dccd
// replicas that share the keys and reach the cluster with a multi-host DATABASE_URL
// (target_session_attrs=read-write) and DATABASE_READ_URL (prefer-standby). It runs as the
// invoking user; as root, Patroni and PostgreSQL run as the "postgres" user.
//
//	dccha up [--load 20s] [--hold]   start it, issue round robin through both replicas, tear down
//	                                 (--hold: keep it up until interrupted, printing URLs and a key)
//	dccha bench [--load 20s]         throughput of one dccd on its embedded store (the reference),
//	                                 then of one and of two replicas over the cluster
//	dccha test                       the failover proof (docs/deploy.md), then tear down
//
// The failover proof keeps issuing through both replicas (cmd/dccload --record, every 200
// written down) while it kills -9 the primary's postmaster, then the primary's Patroni and
// postmaster together (node loss; the node is started again to rejoin), then one dccd replica.
// Afterwards every acknowledged certificate must be on the new primary and verify against the
// signing certificate, no Identifier may have produced two certificates, and the longest gap
// between two acknowledgements around each kill (the write outage) must stay under its limit.
// Exit status 1 when any of that fails, 2 on bad usage.
//
// Needs Debian's patroni, etcd-server and postgresql-15 (`.ci/deps.sh ha` installs them) and
// Go to build dccd, dccctl and dccload from --repo.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type options struct {
	cmd      string
	repo     string
	dir      string
	keep     bool
	load     time.Duration
	hold     bool
	clients  int
	rounds   int
	report   string
	settings Settings
	// Limits of the write outage per trial.
	maxCrash, maxNodeLoss, maxReplica time.Duration
	settle                            time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{settings: DefaultSettings}
	if len(args) == 0 || (args[0] != "up" && args[0] != "test" && args[0] != "bench") {
		fmt.Fprintln(stderr, "usage: dccha up|bench|test [flags]  (dccha test -h for the flags)")
		return o, flag.ErrHelp
	}
	o.cmd = args[0]
	fs := flag.NewFlagSet("dccha "+o.cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.repo, "repo", ".", "module root holding ./cmd/dccd, ./cmd/dccctl and ./cmd/dccload")
	fs.StringVar(&o.dir, "dir", "", "working directory (data, logs, record); default a new temporary one")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory afterwards")
	fs.DurationVar(&o.load, "load", 20*time.Second, "up, bench: how long to issue through the replicas")
	fs.BoolVar(&o.hold, "hold", false, "up: keep the topology running until interrupted")
	fs.IntVar(&o.clients, "clients", 8, "concurrent clients of the load")
	fs.IntVar(&o.rounds, "rounds", 3, "bench: rounds, each measuring every set-up for --load in turn")
	fs.StringVar(&o.report, "report", "", "test: also write the report to this file")
	fs.IntVar(&o.settings.TTL, "ttl", o.settings.TTL, "Patroni ttl (s)")
	fs.IntVar(&o.settings.LoopWait, "loop-wait", o.settings.LoopWait, "Patroni loop_wait (s)")
	fs.IntVar(&o.settings.RetryTimeout, "retry-timeout", o.settings.RetryTimeout, "Patroni retry_timeout (s)")
	fs.IntVar(&o.settings.PrimaryStartTimeout, "primary-start-timeout", o.settings.PrimaryStartTimeout, "Patroni primary_start_timeout (s): 0 fails a crashed primary over instead of restarting it")
	fs.StringVar(&o.settings.WALRetrieveRetryInterval, "wal-retrieve-retry-interval", o.settings.WALRetrieveRetryInterval, "PostgreSQL wal_retrieve_retry_interval on the standbys")
	fs.DurationVar(&o.maxCrash, "max-crash-outage", 8*time.Second, "test: limit of the write outage after a postmaster crash")
	fs.DurationVar(&o.maxNodeLoss, "max-node-outage", 15*time.Second, "test: limit of the write outage after a node loss")
	fs.DurationVar(&o.maxReplica, "max-replica-outage", 3*time.Second, "test: limit of the write outage after a dccd replica is killed")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "test: steady load before each kill and after each recovery")
	if err := fs.Parse(args[1:]); err != nil {
		return o, err
	}
	var errs []error
	if o.load <= 0 || o.load > time.Hour {
		errs = append(errs, errors.New("--load must be above 0 and at most 1h"))
	}
	if o.rounds < 1 || o.rounds > 20 {
		errs = append(errs, errors.New("--rounds must be 1 to 20"))
	}
	if o.clients < 1 || o.clients > 256 {
		errs = append(errs, errors.New("--clients must be 1 to 256"))
	}
	if o.settings.TTL < 2 || o.settings.LoopWait < 1 || o.settings.RetryTimeout < 1 ||
		o.settings.LoopWait+2*o.settings.RetryTimeout > o.settings.TTL {
		errs = append(errs, errors.New("--ttl, --loop-wait, --retry-timeout: Patroni wants ttl >= loop_wait + 2 x retry_timeout, all at least 1"))
	}
	if o.settle < 0 {
		errs = append(errs, errors.New("--settle must be at least 0"))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	return o, errors.Join(errs...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "dccha: %v\n", err)
		return 2
	}
	t, err := startTopology(ctx, o, stdout)
	if t != nil {
		defer func() {
			if err := t.stop(); err != nil {
				fmt.Fprintf(stderr, "dccha: tear down: %v\n", err)
			}
		}()
	}
	if err != nil {
		fmt.Fprintf(stderr, "dccha: %v\n", err)
		if t != nil {
			t.keep = true
		}
		return 1
	}
	var code int
	switch o.cmd {
	case "up":
		code = t.up(ctx, o, stdout, stderr)
	case "bench":
		code = t.bench(ctx, o, stdout, stderr)
	default:
		code = t.proof(ctx, o, stdout, stderr)
	}
	if code != 0 {
		t.keep = true // the logs of every process, for diagnosis
	}
	return code
}
