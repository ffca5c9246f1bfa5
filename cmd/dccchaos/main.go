// Command dccchaos is the fault suite: it runs the real dccd under continuous issuance load
// from several providers and injects the faults a national service meets, then checks that
// nothing acknowledged was lost and that clients were answered as documented.
//
//	go run ./cmd/dccchaos                      # every scenario (make chaos)
//	go run ./cmd/dccchaos --only kill,register # some of them
//	go run ./cmd/dccchaos --keep               # keep the work directory (logs, data)
//
// Scenarios (docs/reliability.md gives the figures):
//
//	kill      kill -9 of dccd at random moments, on the embedded store and on PostgreSQL
//	db        PostgreSQL behind a TCP proxy the suite controls: refused, then silent; then
//	          PostgreSQL itself stopped and started; audit events of refused requests checked
//	register  the population register stand-in down, slow, garbling
//	disk      the embedded store's disk full (a size-limited tmpfs, or a file size limit)
//	sigterm   SIGTERM under load on both stores; restart time from exec to ready
//
// Everything runs on 127.0.0.1 and is bounded in time. It builds dccd, dccctl and dccregister
// from the module (--repo), starts a private PostgreSQL (issuer/store/pgtest; DATABASE_URL is
// ignored, since the suite must stop its server), and checks certificates with the independent
// Node.js verifier (signing/testdata/jsverify). The disk scenario mounts a tmpfs, which needs
// root (CI runs as root); where mounting is not allowed it lowers dccd's file size limit instead
// (--disk). Exit status 1 means a check failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sedcc/dcc/issuer/store/pgtest"
)

var allScenarios = []string{"kill", "db", "register", "disk", "sigterm"}

type options struct {
	repo  string
	only  []string
	keep  bool
	seed  uint64
	kills int
	disk  string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	var only string
	fs := flag.NewFlagSet("dccchaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.repo, "repo", ".", "module root holding ./cmd/dccd, ./cmd/dccctl and ./cmd/dccregister")
	fs.StringVar(&only, "only", strings.Join(allScenarios, ","), "comma-separated scenarios to run: "+strings.Join(allScenarios, ", "))
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (data and server logs)")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the random kill moments (0: from the clock; printed)")
	fs.IntVar(&o.kills, "kills", 3, "kill -9 per store in the kill scenario")
	fs.StringVar(&o.disk, "disk", "auto", "how the disk scenario fills the disk: mount (a tmpfs; root), rlimit (dccd's file size limit), auto (mount, else rlimit)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	for _, s := range strings.Split(only, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(allScenarios, s) {
			fmt.Fprintf(stderr, "dccchaos: unknown scenario %q (want %s)\n", s, strings.Join(allScenarios, ", "))
			return 2
		}
		o.only = append(o.only, s)
	}
	if o.disk != "auto" && o.disk != "mount" && o.disk != "rlimit" {
		fmt.Fprintln(stderr, "dccchaos: --disk must be auto, mount or rlimit")
		return 2
	}
	if o.kills < 1 || o.kills > 20 {
		fmt.Fprintln(stderr, "dccchaos: --kills must be between 1 and 20")
		return 2
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	s, err := newSuite(ctx, o, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "dccchaos: %v\n", err)
		return 1
	}
	defer s.close()
	start := time.Now()
	for _, name := range o.only {
		if ctx.Err() != nil {
			break
		}
		s.section(name)
		var err error
		switch name {
		case "kill":
			err = s.killScenario(ctx)
		case "db":
			err = s.dbScenario(ctx)
		case "register":
			err = s.registerScenario(ctx)
		case "disk":
			err = s.diskScenario(ctx)
		case "sigterm":
			err = s.sigtermScenario(ctx)
		}
		if err != nil {
			s.fail("%s: %v", name, err)
		}
	}
	fmt.Fprintf(stdout, "\n== summary (%.0f s, seed %d)\n", time.Since(start).Seconds(), o.seed)
	for _, l := range s.summary {
		fmt.Fprintln(stdout, l)
	}
	if len(s.failures) > 0 {
		fmt.Fprintf(stdout, "\nFAIL: %d checks failed\n", len(s.failures))
		for _, f := range s.failures {
			fmt.Fprintln(stdout, "  "+f)
		}
		if !o.keep {
			fmt.Fprintf(stdout, "(run with --keep to keep logs and data)\n")
		}
		return 1
	}
	fmt.Fprintln(stdout, "\nOK: no acknowledged certificate lost, no duplicate, every fault answered as documented")
	return 0
}

// suite holds what the scenarios share: binaries, the private PostgreSQL, the work directory,
// and the findings.
type suite struct {
	o       options
	out     io.Writer
	rng     *rand.Rand
	work    string
	repo    string
	dccd    string
	dccctl  string
	dccreg  string
	pg      *pgtest.Server
	runID   string
	seq     int
	summary []string

	failures []string
}

func newSuite(ctx context.Context, o options, out io.Writer) (*suite, error) {
	repo, err := filepath.Abs(o.repo)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "dccchaos-")
	if err != nil {
		return nil, err
	}
	s := &suite{o: o, out: out, rng: rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15)), work: work, repo: repo,
		runID: fmt.Sprintf("%x", o.seed&0xffffffff)}
	fmt.Fprintf(out, "dccchaos: seed %d, work directory %s\n", o.seed, work)
	bin := filepath.Join(work, "bin")
	fmt.Fprintln(out, "building dccd, dccctl, dccregister ...")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin+"/", "./cmd/dccd", "./cmd/dccctl", "./cmd/dccregister")
	cmd.Dir = repo
	if b, err := cmd.CombinedOutput(); err != nil {
		s.close()
		return nil, fmt.Errorf("build: %w\n%s", err, b)
	}
	s.dccd, s.dccctl, s.dccreg = filepath.Join(bin, "dccd"), filepath.Join(bin, "dccctl"), filepath.Join(bin, "dccregister")
	if _, err := os.Stat(filepath.Join(repo, "signing", "testdata", "jsverify", "node_modules")); err != nil {
		s.close()
		return nil, fmt.Errorf("the independent verifier's packages are missing: run `make deps`")
	}
	if needsPG(o.only) {
		// The suite stops and starts its server, so it never uses one from DATABASE_URL.
		os.Unsetenv("DATABASE_URL")
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		pg, err := pgtest.Start(pctx)
		if err != nil {
			s.close()
			return nil, err
		}
		s.pg = pg
	}
	return s, nil
}

func needsPG(only []string) bool {
	return slices.Contains(only, "kill") || slices.Contains(only, "db") || slices.Contains(only, "sigterm")
}

func (s *suite) close() {
	if s.pg != nil {
		if err := s.pg.Stop(); err != nil {
			fmt.Fprintf(s.out, "stop PostgreSQL: %v\n", err)
		}
	}
	if s.o.keep {
		fmt.Fprintf(s.out, "work directory kept: %s\n", s.work)
		return
	}
	os.RemoveAll(s.work)
}

func (s *suite) section(name string) { fmt.Fprintf(s.out, "\n== %s\n", name) }

func (s *suite) logf(format string, args ...any) { fmt.Fprintf(s.out, format+"\n", args...) }

// note adds a line to the summary and prints it.
func (s *suite) note(format string, args ...any) {
	l := fmt.Sprintf(format, args...)
	s.summary = append(s.summary, l)
	fmt.Fprintln(s.out, l)
}

// fail records a failed check and prints it.
func (s *suite) fail(format string, args ...any) {
	l := fmt.Sprintf(format, args...)
	s.failures = append(s.failures, l)
	fmt.Fprintln(s.out, "FAIL: "+l)
}

// check records a failed check when ok is false.
func (s *suite) check(ok bool, format string, args ...any) {
	if !ok {
		s.fail(format, args...)
	}
}

// dir returns a new directory in the work directory.
func (s *suite) dir(name string) string {
	s.seq++
	d := filepath.Join(s.work, fmt.Sprintf("%02d-%s", s.seq, name))
	if err := os.MkdirAll(d, 0o700); err != nil {
		s.fail("work directory: %v", err)
	}
	return d
}
