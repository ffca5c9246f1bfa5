package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	dccprobe "github.com/sedcc/dcc/cmd/internal/probe"
	"github.com/sedcc/dcc/issuer/store/pgtest"
)

// The compare mode (--compare) measures, one after the other in one run on this machine, the
// same closed-loop load against three loopback servers: the Dutch hcert issuance server (the
// peer, which signs a DCC payload and does nothing else), dccd on the embedded store, and dccd
// on PostgreSQL (a private server started from Debian's binaries, or DATABASE_URL). Then it
// offers each dccd 80 % of its own measured peak at a fixed rate and reports the latency there.
// Every phase is bounded in time; every server is stopped at the end.

// peerBody is the peer's request, from its README: a negative rapid test of a fictitious person.
const peerBody = `{"keyUsage":"test","expirationTime":"%s","dcc":{"ver":"1.3.0","dob":"1975-03-14",` +
	`"nam":{"fn":"Öberg","fnt":"OEBERG","gn":"Åsa","gnt":"AASA"},"t":[{"tg":"840539006","tt":"LP217198-3",` +
	`"ma":"1232","sc":"%s","tr":"260415000","tc":"Provtagningen Centrum","co":"SE",` +
	`"is":"Swedish eHealth Agency","ci":"URN:UVCI:01:SE:EHM/P%d"}]}}`

// comparison is one measured server.
type comparison struct {
	name string
	r    result
	cpu  time.Duration // processor time the server used during the measured phase
	// pgCPU is what the PostgreSQL server used meanwhile (dccd on PostgreSQL only), genCPU what
	// this load generator used: on one machine all three share the cores.
	pgCPU, genCPU time.Duration
	paced         *result // at 80 % of peak, when measured
	target        float64 // the paced rate offered
}

func (c comparison) rate() float64 { return float64(len(c.r.admitted)) / c.r.elapsed.Seconds() }

func compareMode(ctx context.Context, o options, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "dccload --compare: %v\n", err)
		return 1
	}
	peerBin := o.peer
	if !filepath.IsAbs(peerBin) {
		peerBin = filepath.Join(o.repo, peerBin)
	}
	if _, err := os.Stat(peerBin); err != nil {
		return fail(fmt.Errorf("peer binary %s: %w (set --peer, or PEER= for make compare)", peerBin, err))
	}
	dir, err := os.MkdirTemp("", "dcccompare-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)

	fmt.Fprintln(stdout, "building dccd ...")
	bin, err := buildServer(ctx, o.repo, dir)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintln(stdout, "starting PostgreSQL ...")
	pg, err := pgtest.Start(ctx)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err := pg.Stop(); err != nil {
			fmt.Fprintf(stderr, "dccload --compare: stop PostgreSQL: %v\n", err)
		}
	}()
	dbURL, err := pg.CreateDatabase(ctx)
	if err != nil {
		return fail(err)
	}

	client := newClient(4*o.clients, o.timeout)
	var results []comparison

	// The peer.
	peer, err := startPeer(ctx, peerBin, dir)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "peer hcert %d serving on %s\n", peer.pid(), peer.url)
	var seq atomic.Int64
	peerLoad := load{client: client, url: peer.url + "/get_credential", clients: o.clients, duration: o.measure, max: o.max,
		makeRequest: func() (*http.Request, error) {
			now := time.Now().UTC()
			body := fmt.Sprintf(peerBody, now.AddDate(1, 0, 0).Format(time.RFC3339), now.Add(-time.Hour).Format(time.RFC3339), seq.Add(1))
			req, err := http.NewRequest(http.MethodPost, peer.url+"/get_credential", strings.NewReader(body))
			if err == nil {
				req.Header.Set("Content-Type", "application/json")
			}
			return req, err
		}}
	peerRes, ok := measure(ctx, peerLoad, "peer", peer.pid(), "", stdout)
	stopErr := peer.stop()
	if !ok {
		return fail(fmt.Errorf("the peer did not answer 200 (stop: %v)", stopErr))
	}
	peerRes.name = "peer hcert (sign only)"
	results = append(results, peerRes)

	for _, store := range []struct{ name, dbURL string }{{"dccd embedded", ""}, {"dccd PostgreSQL", dbURL}} {
		if ctx.Err() != nil {
			break
		}
		c, err := measureDCCD(ctx, o, bin, dir, store.name, store.dbURL, client, stdout)
		if err != nil {
			return fail(err)
		}
		results = append(results, c)
	}
	reportComparison(stdout, o, results)
	return 0
}

// measureDCCD starts dccd on one store, measures its peak with o.clients closed-loop clients,
// then offers 80 % of that peak at a fixed rate.
func measureDCCD(ctx context.Context, o options, bin, dir, name, dbURL string, client *http.Client, stdout io.Writer) (comparison, error) {
	dataDir := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		return comparison{}, err
	}
	extra := []string{}
	if dbURL != "" {
		extra = append(extra, "DATABASE_URL="+dbURL)
	}
	srv, err := startServer(ctx, bin, dataDir, extra...)
	if err != nil {
		return comparison{}, err
	}
	defer srv.stop()
	fmt.Fprintf(stdout, "%s %d serving on %s\n", name, srv.pid(), srv.url)
	key, err := addProvider(ctx, o.repo, dataDir, extra...)
	if err != nil {
		return comparison{}, err
	}
	bodies, err := newBodies(o.pnr, time.Now)
	if err != nil {
		return comparison{}, err
	}
	l := load{client: client, url: srv.url + o.path, key: key, bodies: bodies, clients: o.clients, duration: o.measure, max: o.max}
	c, ok := measure(ctx, l, name, srv.pid(), dbURL, stdout)
	if !ok {
		return comparison{}, fmt.Errorf("%s did not answer 200; see %s:\n%s", name, srv.log, tail(srv.log, 10))
	}
	c.name = name
	c.target = 0.8 * c.rate()
	if c.target >= 1 {
		paced := l
		paced.rate, paced.clients = c.target, 4*o.clients
		fmt.Fprintf(stdout, "%s: %.0f requests/s (80 %% of peak) for %s ...\n", name, c.target, o.measure)
		pr := paced.run(ctx)
		pr.report(stdout, name+" at 80 % of peak")
		c.paced = &pr
	}
	return c, nil
}

// measure checks one request, then runs the load and reports it with the processor time pid
// used meanwhile, that of the PostgreSQL server at dbURL (when set) and that of this process; ok
// is false when the probe failed.
func measure(ctx context.Context, l load, name string, pid int, dbURL string, stdout io.Writer) (comparison, bool) {
	probe := l
	probe.clients, probe.duration, probe.max = 1, time.Minute, 1
	if r := probe.run(ctx); r.byStatus[200] != 1 {
		r.report(stdout, name+" probe")
		return comparison{r: r}, false
	}
	fmt.Fprintf(stdout, "%s: %d clients for %s ...\n", name, l.clients, l.duration)
	pgCPU := func() time.Duration {
		if dbURL == "" {
			return 0
		}
		d, err := pgtest.ServerCPU(ctx, dbURL)
		if err != nil {
			fmt.Fprintf(stdout, "PostgreSQL CPU not measured: %v\n", err)
		}
		return d
	}
	before, pgBefore, genBefore := dccprobe.ProcessCPU(pid), pgCPU(), selfCPU()
	r := l.run(ctx)
	c := comparison{r: r, cpu: dccprobe.ProcessCPU(pid) - before, genCPU: selfCPU() - genBefore}
	if dbURL != "" {
		c.pgCPU = pgCPU() - pgBefore
	}
	r.report(stdout, name)
	perAnswer := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(max(1, len(r.admitted))) }
	fmt.Fprintf(stdout, "server CPU        %.1f s, %.2f cores, %.0f µs per 200 answer\n", c.cpu.Seconds(),
		c.cpu.Seconds()/r.elapsed.Seconds(), perAnswer(c.cpu))
	if dbURL != "" {
		fmt.Fprintf(stdout, "PostgreSQL CPU    %.1f s, %.2f cores, %.0f µs per 200 answer\n", c.pgCPU.Seconds(),
			c.pgCPU.Seconds()/r.elapsed.Seconds(), perAnswer(c.pgCPU))
	}
	fmt.Fprintf(stdout, "load tool CPU     %.1f s, %.2f cores, %.0f µs per 200 answer\n", c.genCPU.Seconds(),
		c.genCPU.Seconds()/r.elapsed.Seconds(), perAnswer(c.genCPU))
	return c, true
}

// selfCPU is this process's user and system time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportComparison(w io.Writer, o options, cs []comparison) {
	fmt.Fprintf(w, "\n== side by side: %d closed-loop clients each, %s each, loopback, one server at a time\n", o.clients, o.measure)
	fmt.Fprintf(w, "%-24s %10s %9s %9s %8s %10s %12s %12s %12s   %s\n", "server", "answers/s", "p50", "p99", "non-200", "vs peer",
		"CPU/answer", "PG/answer", "tool/answer", "at 80% of peak: rate, p50, p99")
	peer := cs[0].rate()
	for _, c := range cs {
		slices.Sort(c.r.admitted)
		non200 := c.r.requests - c.r.byStatus[200]
		ratio := "-"
		if peer > 0 {
			ratio = fmt.Sprintf("%.2fx", c.rate()/peer)
		}
		paced := ""
		if p := c.paced; p != nil {
			slices.Sort(p.admitted)
			paced = fmt.Sprintf("%.0f/s offered, %.0f/s answered 200, %s, %s", c.target,
				float64(len(p.admitted))/p.elapsed.Seconds(), ms(percentile(p.admitted, 50)), ms(percentile(p.admitted, 99)))
		}
		perAnswer := func(d time.Duration) string {
			if d == 0 {
				return "-"
			}
			return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/float64(max(1, len(c.r.admitted))))
		}
		fmt.Fprintf(w, "%-24s %10.0f %9s %9s %8d %10s %12s %12s %12s   %s\n", c.name, c.rate(),
			ms(percentile(c.r.admitted, 50)), ms(percentile(c.r.admitted, 99)), non200, ratio,
			perAnswer(c.cpu), perAnswer(c.pgCPU), perAnswer(c.genCPU), paced)
	}
	if len(cs) == 3 && cs[2].rate() > 0 {
		fmt.Fprintf(w, "embedded / PostgreSQL   %.2f\n", cs[1].rate()/cs[2].rate())
	}
}

// peerServer is the peer's process.
type peerServer struct{ server }

// startPeer runs the hcert issuance server as its README says, from its own folder (its test
// key and certificate), on a free loopback port.
func startPeer(ctx context.Context, bin, dir string) (*peerServer, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := strings.Cut(addr, ":")
	logPath := filepath.Join(dir, "hcert.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "issuance-server", "--listen-address", host, "--listen-port", port,
		"--issuer-country-code", "SE", "--default-local-key-usages", "test",
		"--default-local-certificate-path", "cert.pem", "--default-local-key-path", "key.pem")
	cmd.Dir = filepath.Dir(bin)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start peer: %w", err)
	}
	s := &peerServer{server{cmd: cmd, url: "http://" + addr, log: logPath, exited: make(chan error, 1)}}
	go func() {
		s.exited <- cmd.Wait()
		logf.Close()
	}()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Post(s.url+"/get_credential", "application/json", bytes.NewReader([]byte("{}")))
		if err == nil {
			resp.Body.Close()
			return s, nil
		}
		select {
		case err := <-s.exited:
			return nil, fmt.Errorf("peer exited before serving (%v):\n%s", err, tail(logPath, 20))
		case <-ctx.Done():
			_ = s.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.stop()
			return nil, errors.New("peer did not listen within 30 s")
		}
	}
}

// stop ends the peer; its exit status after SIGTERM is not a failure.
func (s *peerServer) stop() error {
	err := s.server.stop()
	var ee *exec.ExitError
	if errors.As(err, &ee) || (err != nil && strings.Contains(err.Error(), "ended with")) {
		return nil
	}
	return err
}
