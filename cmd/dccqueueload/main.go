// Command dccqueueload measures the citizens' virtual queue in a rush: a real dccd (built from
// this module, embedded store in a temporary directory, DCC_QUEUE_RATE set) on loopback, many
// visitors arriving within a bounded window far faster than the queue admits, each following the
// protocol (the waiting answer, back after Retry-After with the answer's cookies, until let in),
// while a few attackers present forged, edited, foreign and spent tickets, and providers issue
// certificates throughout. Providers' issuance is measured alone first, then during the rush.
//
//	go run ./cmd/dccqueueload [--visitors 100000] [--arrive 60s] [--rate 500] [--max 4m]
//
// It prints a Markdown report: admitted rate against the configured rate, the largest wait
// against the estimate shown at arrival, order violations, forged or replayed tickets accepted,
// providers' issuance during the rush against alone, the server's peak memory and CPU. It loads
// loopback only, and every phase is bounded in time.
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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	visitors     int
	arrive       time.Duration
	rate         float64
	max          time.Duration
	workers      int
	pageShare    float64
	providers    int
	providerRate float64
	baseline     time.Duration
	attacks      int
	dccd         string
	dccctl       string
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("dccqueueload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.visitors, "visitors", 100000, "visitors arriving in the rush")
	fs.DurationVar(&o.arrive, "arrive", time.Minute, "window in which they arrive, evenly spread")
	fs.Float64Var(&o.rate, "rate", 500, "DCC_QUEUE_RATE: visitors the queue lets in a second")
	fs.DurationVar(&o.max, "max", 4*time.Minute, "the rush ends at the latest this long after it began")
	fs.IntVar(&o.workers, "workers", 256, "concurrent requests of the visitors")
	fs.Float64Var(&o.pageShare, "page-share", 0.2, "share of visitors that are browsers reading the HTML waiting page (the rest use the JSON answer)")
	fs.IntVar(&o.providers, "providers", 4, "provider clinics issuing certificates, each with its own credential")
	fs.Float64Var(&o.providerRate, "provider-rate", 100, "issuances a second the clinics send together on a fixed schedule; 0: each sends as fast as it is answered")
	fs.DurationVar(&o.baseline, "baseline", 15*time.Second, "providers' issuance measured alone, before the rush")
	fs.IntVar(&o.attacks, "attacks", 1000, "forged, edited, foreign and replayed tickets presented during the rush")
	fs.StringVar(&o.dccd, "dccd", "", "dccd binary (default: built from this module)")
	fs.StringVar(&o.dccctl, "dccctl", "", "dccctl binary (default: built from this module)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.visitors < 1 || o.workers < 1 || o.providers < 0 || o.attacks < 0:
		return o, errors.New("--visitors and --workers at least 1; --providers and --attacks not negative")
	case o.arrive <= 0 || o.max <= o.arrive || o.max > 10*time.Minute || o.baseline <= 0 || o.baseline > 2*time.Minute:
		return o, errors.New("--arrive above 0, --max longer than --arrive and at most 10m, --baseline above 0 and at most 2m")
	case !(o.rate > 0) || o.pageShare < 0 || o.pageShare > 1 || o.providerRate < 0:
		return o, errors.New("--rate above 0; --page-share between 0 and 1; --provider-rate not negative")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "dccqueueload:", err)
		return 2
	}
	if err := rush(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "dccqueueload:", err)
		return 1
	}
	return 0
}
