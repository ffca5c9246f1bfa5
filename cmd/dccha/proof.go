package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sedcc/dcc/cmd/internal/probe"
	"github.com/sedcc/dcc/cmd/internal/setup"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/trust"
)

// acknowledged is one line of dccload's record.
type acknowledged struct {
	At         time.Time `json:"at"`
	Sent       time.Time `json:"sent"`
	Target     string    `json:"target"`
	First      string    `json:"first"`
	Identifier string    `json:"identifier"`
	RequestID  string    `json:"requestId"`
	UVCI       string    `json:"uvci"`
	HC1        string    `json:"hc1"`
	Attempts   int       `json:"attempts"`
}

func readRecord(path string) ([]acknowledged, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	defer f.Close()
	var out []acknowledged
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var a acknowledged
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			return nil, fmt.Errorf("record %s line %d: %w", path, len(out)+1, err)
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	return out, nil
}

// trial is one fault injected under load.
type trial struct {
	name    string
	limit   time.Duration
	victim  string
	killed  time.Time // the fault
	back    time.Time // the harness saw the cluster or the replica healthy again
	end     time.Time // end of the steady load after it
	before  string    // cluster before
	after   string    // cluster after
	outage  time.Duration
	firstOK time.Duration // from the kill to the first acknowledgement after it
}

// outage is the longest time between two consecutive acknowledgements that spans or follows the
// kill and begins before the end of the trial, and the time from the kill to the first
// acknowledgement after it. With no acknowledgement after the kill, both run to the end.
func outage(acks []time.Time, killed, end time.Time) (gap, first time.Duration) {
	sorted := slices.Clone(acks)
	slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	prev := killed
	first = -1
	for _, a := range sorted {
		if !a.After(killed) {
			prev = a
			continue
		}
		if first < 0 {
			first = a.Sub(killed)
		}
		gap = max(gap, a.Sub(prev))
		if a.After(end) {
			return gap, first
		}
		prev = a
	}
	if first < 0 {
		return end.Sub(prev), end.Sub(killed)
	}
	return gap, first
}

// proof runs the three trials under continuous load and checks the record against the primary.
func (t *topology) proof(ctx context.Context, o options, stdout, stderr io.Writer) int {
	record := filepath.Join(t.dir, "acks.jsonl")
	loadOut := filepath.Join(t.dir, "dccload.out")
	lf, err := os.Create(loadOut)
	if err != nil {
		fmt.Fprintf(stderr, "dccha: %v\n", err)
		return 1
	}
	load := t.loadCmd(o, 30*time.Minute, record, t.service.replicas...)
	load.Stdout, load.Stderr = lf, lf
	if err := load.Start(); err != nil {
		lf.Close()
		fmt.Fprintf(stderr, "dccha: start dccload: %v\n", err)
		return 1
	}
	loadDone := make(chan error, 1)
	go func() { loadDone <- load.Wait(); lf.Close() }()
	stopLoad := func() error {
		_ = load.Process.Signal(syscall.SIGINT)
		select {
		case err := <-loadDone:
			return err
		case <-time.After(60 * time.Second):
			_ = load.Process.Kill()
			<-loadDone
			return errors.New("dccload did not stop within 60 s of SIGINT")
		}
	}
	fmt.Fprintf(stdout, "\nfailover proof: %d clients issuing round robin through %s\n", o.clients, t.targets(t.service.replicas...))

	trials := []*trial{
		{name: "postmaster crash (kill -9 the primary's postmaster)", limit: o.maxCrash},
		{name: "node loss (kill -9 the primary's Patroni and postmaster)", limit: o.maxNodeLoss},
		{name: "replica loss (kill -9 one dccd)", limit: o.maxReplica},
	}
	inject := []func(context.Context, *trial) error{t.crashPostmaster, t.loseNode, t.loseReplica}
	var trialErr error
	for i, tr := range trials {
		fmt.Fprintf(stdout, "\ntrial %d: %s\n", i+1, tr.name)
		if trialErr = t.steady(ctx, o.settle); trialErr != nil {
			break
		}
		if trialErr = inject[i](ctx, tr); trialErr != nil {
			break
		}
		sleepCtx(ctx, o.settle)
		tr.end = time.Now()
		fmt.Fprintf(stdout, "  %s killed at %s, healthy again after %.1f s: %s\n", tr.victim,
			tr.killed.UTC().Format("15:04:05.000"), tr.back.Sub(tr.killed).Seconds(), tr.after)
	}
	loadErr := stopLoad()
	out, _ := os.ReadFile(loadOut)
	fmt.Fprintf(stdout, "\ndccload:\n%s", indent(string(out)))
	if trialErr != nil {
		fmt.Fprintf(stderr, "dccha: %v\n", trialErr)
		return 1
	}
	acks, err := readRecord(record)
	if err != nil {
		fmt.Fprintf(stderr, "dccha: %v\n", err)
		return 1
	}
	v, err := t.verify(ctx, acks)
	if err != nil {
		fmt.Fprintf(stderr, "dccha: verify: %v\n", err)
		return 1
	}
	return t.report(o, trials, acks, v, loadErr, stdout, stderr)
}

// steady waits until the cluster and every replica are healthy, then lets the load run for d.
func (t *topology) steady(ctx context.Context, d time.Duration) error {
	if _, err := t.cluster.waitHealthy(ctx, 120*time.Second); err != nil {
		return err
	}
	for _, r := range t.service.replicas {
		if r.proc == nil || r.proc.exited() {
			return fmt.Errorf("replica %s is not running", r.name)
		}
	}
	sleepCtx(ctx, d)
	return ctx.Err()
}

func (t *topology) leaderNode() (*node, clusterState, error) {
	st, err := t.cluster.state()
	if err != nil {
		return nil, st, err
	}
	l, ok := st.leader()
	if !ok {
		return nil, st, errors.New("no running leader")
	}
	return t.cluster.node(l.Name), st, nil
}

// crashPostmaster kills the primary's postmaster; Patroni restarts it in place or a standby
// takes over.
func (t *topology) crashPostmaster(ctx context.Context, tr *trial) error {
	n, st, err := t.leaderNode()
	if err != nil {
		return err
	}
	tr.victim, tr.before = "postmaster of "+n.name, describe(st)
	old := n.postmasterPID()
	tr.killed = time.Now()
	if err := n.killPostmaster(); err != nil {
		return err
	}
	// Until Patroni has acted, its last view may still call the cluster healthy.
	if err := waitFor(ctx, 120*time.Second, "Patroni to restart the postmaster or fail over", func() error {
		if pid := n.postmasterPID(); pid != 0 && pid != old {
			return nil
		}
		if st, err := t.cluster.state(); err == nil {
			if l, ok := st.leader(); ok && l.Name != n.name {
				return nil
			}
		}
		return errors.New("not yet")
	}); err != nil {
		return err
	}
	return t.recovered(ctx, tr)
}

// recovered waits until the cluster is healthy and takes a write, and notes when.
func (t *topology) recovered(ctx context.Context, tr *trial) error {
	after, err := t.cluster.waitHealthy(ctx, 180*time.Second)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, 60*time.Second, "a write to commit on the primary", t.service.write); err != nil {
		return err
	}
	tr.back, tr.after = time.Now(), describe(after)
	return nil
}

// loseNode kills the primary's Patroni and postmaster together, waits for a new leader, then
// starts the node again so that it rejoins (rewound if need be) as a standby.
func (t *topology) loseNode(ctx context.Context, tr *trial) error {
	n, st, err := t.leaderNode()
	if err != nil {
		return err
	}
	tr.victim, tr.before = n.name, describe(st)
	tr.killed = time.Now()
	if err := n.killNode(); err != nil {
		return err
	}
	if _, err := t.cluster.waitLeader(ctx, 120*time.Second, n.name); err != nil {
		return err
	}
	if err := t.cluster.startNode(n); err != nil {
		return err
	}
	return t.recovered(ctx, tr)
}

// loseReplica kills one dccd; the load goes on through the other; the replica is started again.
func (t *topology) loseReplica(ctx context.Context, tr *trial) error {
	r := t.service.replicas[len(t.service.replicas)-1]
	st, _ := t.cluster.state()
	tr.victim, tr.before = r.name, describe(st)
	tr.killed = time.Now()
	r.proc.kill()
	sleepCtx(ctx, 2*time.Second)
	if err := t.service.startReplica(ctx, r); err != nil {
		return err
	}
	tr.back, tr.after = time.Now(), r.name+" serving on "+r.url()
	return nil
}

// verification is what the database holds of the record.
type verification struct {
	primary      string
	missing      []string // acknowledged UVCIs not on the primary
	mismatched   []string // on the primary with another Identifier or HC1
	unverified   []string // HC1 that does not verify
	dupIdent     []string // Identifiers with two certificates (on the primary or in the record)
	unacked      int      // load certificates on the primary that no 200 acknowledged
	onNodes      map[string]int
	loadOnServer int
	readPool     map[string]string // each replica's /status light of its read pool (DATABASE_READ_URL)
}

// verify reads every load certificate from the primary (a read-write session over all nodes)
// and checks each acknowledged one; then counts how many of them each node holds.
func (t *topology) verify(ctx context.Context, acks []acknowledged) (verification, error) {
	v := verification{onNodes: map[string]int{}, readPool: map[string]string{}}
	certFile := filepath.Join(setup.DevelopmentKeyDir(t.service.keysDir, issuer.Sandbox), keys.CertFile)
	_, cert, err := keys.Load(filepath.Join(filepath.Dir(certFile), keys.KeyFile), certFile)
	if err != nil {
		return v, err
	}
	tl := trust.New(string(issuer.Sandbox), cert)

	if _, err := t.cluster.waitHealthy(ctx, 120*time.Second); err != nil {
		return v, err
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, t.service.databaseURL)
	if err != nil {
		return v, fmt.Errorf("connect to the primary: %w", err)
	}
	defer conn.Close(cctx)
	var inRecovery bool
	if err := conn.QueryRow(cctx, `SELECT inet_server_port()::text, pg_is_in_recovery()`).Scan(&v.primary, &inRecovery); err != nil || inRecovery {
		return v, fmt.Errorf("the read-write session is not on a primary (recovery %v): %v", inRecovery, err)
	}
	type row struct{ identifier, hc1 string }
	onPrimary := map[string]row{}
	perIdent := map[string]int{}
	rows, err := conn.Query(cctx, `SELECT uvci, identifier, hc1 FROM certificates WHERE identifier LIKE 'LOAD-%'`)
	if err != nil {
		return v, err
	}
	for rows.Next() {
		var uvci string
		var r row
		if err := rows.Scan(&uvci, &r.identifier, &r.hc1); err != nil {
			return v, err
		}
		onPrimary[uvci] = r
		perIdent[r.identifier]++
	}
	if err := rows.Err(); err != nil {
		return v, err
	}
	v.loadOnServer = len(onPrimary)
	acked := map[string]bool{}
	uvciOf := map[string]string{}
	now := time.Now()
	for _, a := range acks {
		acked[a.UVCI] = true
		if u, ok := uvciOf[a.Identifier]; ok && u != a.UVCI {
			v.dupIdent = append(v.dupIdent, a.Identifier)
		}
		uvciOf[a.Identifier] = a.UVCI
		r, ok := onPrimary[a.UVCI]
		switch {
		case !ok:
			v.missing = append(v.missing, a.UVCI)
			continue
		case r.identifier != a.Identifier || r.hc1 != a.HC1:
			v.mismatched = append(v.mismatched, a.UVCI)
		}
		if _, err := hcert.Verify(r.hc1, tl, now); err != nil {
			v.unverified = append(v.unverified, a.UVCI+": "+err.Error())
		}
	}
	for ident, n := range perIdent {
		if n > 1 {
			v.dupIdent = append(v.dupIdent, ident)
		}
	}
	for uvci := range onPrimary {
		if !acked[uvci] {
			v.unacked++
		}
	}

	// Each node, standbys included, after they have had a moment to replay.
	sleepCtx(ctx, 2*time.Second)
	want := make([]string, 0, len(acks))
	for _, a := range acks {
		want = append(want, a.UVCI)
	}
	for _, n := range t.cluster.nodes {
		u := serviceURL(&cluster{nodes: []*node{n}}, t.service.appPassword, "any")
		nc, err := pgx.Connect(cctx, u)
		if err != nil {
			v.onNodes[n.name] = -1
			continue
		}
		var count int
		if err := nc.QueryRow(cctx, `SELECT count(*) FROM certificates WHERE uvci = ANY($1)`, want).Scan(&count); err != nil {
			count = -1
		}
		nc.Close(cctx)
		v.onNodes[n.name] = count
	}

	// The read pool of each replica, as its /status shows it (probed every DCC_STATUS_INTERVAL).
	for _, r := range t.service.replicas {
		light := ""
		_ = waitFor(ctx, 30*time.Second, "the read pool of "+r.name+" to be green", func() error {
			light = probe.DependencyLight(r.url(), "store-read", 2*time.Second)
			if light != "green" {
				return fmt.Errorf("read pool %q", light)
			}
			return nil
		})
		v.readPool[r.name] = light
	}
	return v, nil
}

// report prints the figures and the verdict; it returns the exit status.
func (t *topology) report(o options, trials []*trial, acks []acknowledged, v verification, loadErr error, stdout, stderr io.Writer) int {
	var b strings.Builder
	times := make([]time.Time, len(acks))
	for i, a := range acks {
		times[i] = a.At
	}
	s := o.settings
	fmt.Fprintf(&b, "\n== failover proof\n")
	fmt.Fprintf(&b, "Patroni: ttl %d, loop_wait %d, retry_timeout %d, primary_start_timeout %d, synchronous_mode on, synchronous_mode_strict on, synchronous_commit on, wal_retrieve_retry_interval %s, use_pg_rewind on\n",
		s.TTL, s.LoopWait, s.RetryTimeout, s.PrimaryStartTimeout, s.WALRetrieveRetryInterval)
	fmt.Fprintf(&b, "load: %d clients round robin over %d dccd replicas (DATABASE_URL over 3 hosts, target_session_attrs=read-write)\n", o.clients, len(t.service.replicas))
	var failures []string
	for i, tr := range trials {
		tr.outage, tr.firstOK = outage(times, tr.killed, tr.end)
		verdict := "ok"
		if tr.outage >= tr.limit {
			verdict = "OVER LIMIT"
			failures = append(failures, fmt.Sprintf("trial %d: write outage %s, limit %s", i+1, tr.outage.Round(time.Millisecond), tr.limit))
		}
		fmt.Fprintf(&b, "trial %d %-58s write outage %6.2f s (limit %2.0f s, %s); first 200 %.2f s after the kill; healthy again %.1f s\n",
			i+1, tr.name, tr.outage.Seconds(), tr.limit.Seconds(), verdict, tr.firstOK.Seconds(), tr.back.Sub(tr.killed).Seconds())
		fmt.Fprintf(&b, "        before: %s\n        after:  %s\n", tr.before, tr.after)
	}
	retried, moved := 0, 0
	for _, a := range acks {
		if a.Attempts > 1 {
			retried++
			if a.Target != a.First {
				moved++
			}
		}
	}
	fmt.Fprintf(&b, "sent more than once (same X-Request-ID) before their 200: %d, of them answered by another replica than the first tried: %d\n", retried, moved)
	fmt.Fprintf(&b, "acknowledged (200) %d; on the primary (port %s): %d load certificates, %d of them never acknowledged (in flight at a kill or at the end)\n",
		len(acks), v.primary, v.loadOnServer, v.unacked)
	fmt.Fprintf(&b, "acknowledged missing from the primary %d, differing %d, not verifying %d; Identifiers with two certificates %d\n",
		len(v.missing), len(v.mismatched), len(v.unverified), len(v.dupIdent))
	var nodes []string
	for _, n := range t.cluster.nodes {
		nodes = append(nodes, fmt.Sprintf("%s %d", n.name, v.onNodes[n.name]))
	}
	fmt.Fprintf(&b, "acknowledged certificates held by each node: %s (of %d)\n", strings.Join(nodes, ", "), len(acks))
	var pools []string
	for _, r := range t.service.replicas {
		pools = append(pools, r.name+" "+v.readPool[r.name])
		if v.readPool[r.name] != "green" {
			failures = append(failures, fmt.Sprintf("the read pool (DATABASE_READ_URL) of %s is %s on /status", r.name, v.readPool[r.name]))
		}
	}
	fmt.Fprintf(&b, "read pool (DATABASE_READ_URL, prefer-standby) on /status: %s\n", strings.Join(pools, ", "))
	for _, l := range []struct {
		what string
		list []string
	}{{"missing", v.missing}, {"differing", v.mismatched}, {"not verifying", v.unverified}, {"duplicate Identifier", v.dupIdent}} {
		if len(l.list) > 0 {
			failures = append(failures, fmt.Sprintf("%d %s, e.g. %s", len(l.list), l.what, l.list[0]))
		}
	}
	if len(acks) == 0 {
		failures = append(failures, "no certificate was acknowledged")
	}
	if loadErr != nil {
		failures = append(failures, fmt.Sprintf("dccload: %v (see its output above)", loadErr))
	}
	if len(failures) > 0 {
		fmt.Fprintf(&b, "FAIL\n  %s\n", strings.Join(failures, "\n  "))
	} else {
		fmt.Fprintf(&b, "PASS: no acknowledged certificate lost, none duplicated, every write outage under its limit\n")
	}
	fmt.Fprint(stdout, b.String())
	if o.report != "" {
		if err := os.WriteFile(o.report, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintf(stderr, "dccha: report: %v\n", err)
			return 1
		}
	}
	if len(failures) > 0 {
		return 1
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "  " + strings.Join(lines, "\n  ") + "\n"
}
