package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// topology is the cluster and the service on it, in one working directory.
type topology struct {
	dir     string
	keep    bool
	cluster *cluster
	service *service
	out     io.Writer
}

// startTopology builds the binaries (while the cluster starts), starts the cluster, creates the
// database, prepares the keys and the provider, and starts two replicas. On an error the
// returned topology, when not nil, holds what was started, for stop.
func startTopology(ctx context.Context, o options, out io.Writer) (*topology, error) {
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "dccha-")
		if err != nil {
			return nil, err
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	// PostgreSQL runs as another user when this process is root: it must reach its directories.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	t := &topology{dir: dir, keep: o.keep || o.dir != "", out: out}
	fmt.Fprintf(out, "working directory %s\n", dir)

	bin := filepath.Join(dir, "bin")
	var buildErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin+"/", "./cmd/dccd", "./cmd/dccctl", "./cmd/dccload")
		cmd.Dir = o.repo
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, b)
		}
	})

	c, err := newCluster(dir, o.settings)
	if err != nil {
		wg.Wait()
		return t, err
	}
	t.cluster = c
	start := time.Now()
	fmt.Fprintf(out, "starting etcd and three Patroni nodes (ttl %d, loop_wait %d, retry_timeout %d, synchronous_mode_strict) ...\n",
		o.settings.TTL, o.settings.LoopWait, o.settings.RetryTimeout)
	err = c.start(ctx)
	wg.Wait()
	if err := errors.Join(err, buildErr); err != nil {
		return t, err
	}
	st, err := c.state()
	if err != nil {
		return t, err
	}
	leader, _ := st.leader()
	fmt.Fprintf(out, "cluster healthy after %.1f s: leader %s\n", time.Since(start).Seconds(), describe(st))

	s := &service{dir: dir, bin: bin, appPassword: randomSecret()}
	t.service = s
	if err := s.createDatabase(ctx, c, leader); err != nil {
		return t, err
	}
	s.databaseURL = serviceURL(c, s.appPassword, "read-write")
	s.readURL = serviceURL(c, s.appPassword, "prefer-standby")
	if err := s.prepare(ctx); err != nil {
		return t, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return t, err
	}
	for i, p := range ports {
		r := &replica{name: fmt.Sprintf("dccd%d", i+1), addr: "127.0.0.1:" + strconv.Itoa(p), dir: filepath.Join(dir, fmt.Sprintf("dccd%d", i+1))}
		s.replicas = append(s.replicas, r)
		if err := s.startReplica(ctx, r); err != nil {
			return t, err
		}
		fmt.Fprintf(out, "replica %s serving on %s\n", r.name, r.url())
	}
	return t, nil
}

// describe is a one-line view of the cluster: each member's role and state.
func describe(s clusterState) string {
	var parts []string
	for _, m := range s.Members {
		parts = append(parts, fmt.Sprintf("%s %s/%s tl%d", m.Name, m.Role, m.State, m.Timeline))
	}
	return strings.Join(parts, ", ")
}

func (t *topology) stop() error {
	var errs []error
	if t.service != nil {
		errs = append(errs, t.service.stop())
	}
	if t.cluster != nil {
		errs = append(errs, t.cluster.stop())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if t.keep {
		fmt.Fprintf(t.out, "stopped; working directory kept: %s\n", t.dir)
		return nil
	}
	fmt.Fprintln(t.out, "stopped")
	return os.RemoveAll(t.dir)
}

// targets is the comma-separated URLs of the replicas.
func (t *topology) targets(rs ...*replica) string {
	var us []string
	for _, r := range rs {
		us = append(us, r.url())
	}
	return strings.Join(us, ",")
}

// loadCmd is cmd/dccload in record mode through the given replicas.
func (t *topology) loadCmd(o options, d time.Duration, record string, rs ...*replica) *exec.Cmd {
	return t.loadCmdKey(o, d, record, t.service.key, rs...)
}

func (t *topology) loadCmdKey(o options, d time.Duration, record, key string, rs ...*replica) *exec.Cmd {
	cmd := exec.Command(filepath.Join(t.service.bin, "dccload"), "--target", t.targets(rs...), "--key", key,
		"--path", "/api/v1/observation", "--record", record, "--measure", d.String(),
		"--clients", strconv.Itoa(o.clients), "--max-requests", "100000000")
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// up issues through both replicas for o.load, then holds the topology when asked.
func (t *topology) up(ctx context.Context, o options, stdout, stderr io.Writer) int {
	code := 0
	if !o.hold || o.load > 0 {
		cmd := t.loadCmd(o, o.load, filepath.Join(t.dir, "acks.jsonl"), t.service.replicas...)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		fmt.Fprintln(stdout, "\nissuing round robin through both replicas ...")
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(stderr, "dccha: dccload: %v\n", err)
			code = 1
		}
	}
	if !o.hold || ctx.Err() != nil {
		return code
	}
	fmt.Fprintf(stdout, "\nthe topology is up until interrupted (Ctrl-C):\n")
	for _, r := range t.service.replicas {
		fmt.Fprintf(stdout, "  dccd %s  (log %s)\n", r.url(), filepath.Join(r.dir, "dccd.log"))
	}
	for _, n := range t.cluster.nodes {
		fmt.Fprintf(stdout, "  %s  PostgreSQL 127.0.0.1:%d  Patroni %s/cluster  (log %s)\n", n.name, n.pgPort, n.api(), n.logPath())
	}
	// A throwaway cluster on loopback: its random password is printed so that dccctl and psql
	// can be pointed at it.
	fmt.Fprintf(stdout, "  DATABASE_URL='%s'\n", t.service.databaseURL)
	fmt.Fprintf(stdout, "  DATABASE_READ_URL='%s'\n", t.service.readURL)
	fmt.Fprintf(stdout, "  sandbox provider API key: %s\n", t.service.key)
	fmt.Fprintf(stdout, "  try: go run ./cmd/dccctl example naat | curl -s -H 'Authorization: Bearer %s' -H 'Content-Type: application/fhir+json' --data-binary @- %s/api/v1/observation\n",
		t.service.key, t.service.replicas[0].url())
	<-ctx.Done()
	return code
}

// bench measures issuance through one dccd on its embedded store (the single-node reference),
// then through one replica over the cluster, then through both, and prints the ratios.
func (t *topology) bench(ctx context.Context, o options, stdout, stderr io.Writer) int {
	single, singleKey, err := t.service.startSingle(ctx)
	if single != nil && single.proc != nil {
		defer single.proc.stop(30 * time.Second)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dccha: %v\n", err)
		return 1
	}
	phases := []struct {
		name string
		key  string
		rs   []*replica
	}{
		{"one dccd, embedded store (single node)", singleKey, []*replica{single}},
		{"one replica over the cluster", t.service.key, t.service.replicas[:1]},
		{"two replicas over the cluster", t.service.key, t.service.replicas},
	}
	// Rounds interleave the set-ups, so that a shared machine's changing load weighs on all alike.
	acks := make([]int, len(phases))
	secs := make([]float64, len(phases))
	for round := range o.rounds {
		for i, ph := range phases {
			record := filepath.Join(t.dir, fmt.Sprintf("bench-%d-%d.jsonl", round, i))
			cmd := t.loadCmdKey(o, o.load, record, ph.key, ph.rs...)
			cmd.Stdout, cmd.Stderr = stdout, stderr
			fmt.Fprintf(stdout, "\nround %d, %s: %d clients for %s ...\n", round+1, ph.name, o.clients, o.load)
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(stderr, "dccha: dccload: %v\n", err)
				return 1
			}
			got, err := readRecord(record)
			if err != nil {
				fmt.Fprintf(stderr, "dccha: %v\n", err)
				return 1
			}
			acks[i] += len(got)
			secs[i] += span(got)
			if ctx.Err() != nil {
				return 1
			}
		}
	}
	fmt.Fprintf(stdout, "\n== bench: %d clients, %d rounds of %s per set-up, certificates acknowledged per second\n", o.clients, o.rounds, o.load)
	base := float64(acks[0]) / secs[0]
	for i, ph := range phases {
		r := float64(acks[i]) / secs[i]
		fmt.Fprintf(stdout, "%-42s %7.1f/s  (%.2f x single node)\n", ph.name, r, r/base)
	}
	return 0
}

// span is the time from the first request sent to the last answer of a record.
func span(acks []acknowledged) float64 {
	if len(acks) == 0 {
		return 0
	}
	first, last := acks[0].Sent, acks[0].At
	for _, a := range acks {
		if a.Sent.Before(first) {
			first = a.Sent
		}
		if a.At.After(last) {
			last = a.At
		}
	}
	return last.Sub(first).Seconds()
}
