package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dccprobe "github.com/sedcc/dcc/cmd/internal/probe"
)

// result is one phase against one server.
type result struct {
	ok, other, errs uint64
	statuses        map[int]uint64
	lat             []time.Duration // of the 200 answers, sorted
	elapsed         time.Duration
	peakRSS         int64 // highest VmRSS sampled during the phase
	hwm             int64 // VmHWM at the end (peak since the process started)
}

func (r result) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(p * float64(len(r.lat)-1))
	return r.lat[i]
}

func loopbackDialer() *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second}
}

// load runs n clients, each with its own connection, against url for d.
func load(ctx context.Context, target, token string, n int, d time.Duration, pid int) result {
	if !strings.HasPrefix(target, "http://127.0.0.1:") {
		panic("dcccitizenload loads loopback servers only")
	}
	tr := &http.Transport{DialContext: loopbackDialer().DialContext, MaxIdleConns: n, MaxIdleConnsPerHost: n,
		MaxConnsPerHost: n, DisableCompression: true, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()

	var peak atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, _, _ := dccprobe.ProcessMemory(pid); rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()

	type tally struct {
		ok, other, errs uint64
		statuses        map[int]uint64
		lat             []time.Duration
	}
	tallies := make([]tally, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			t := &tallies[i]
			t.statuses = map[int]uint64{}
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						t.errs++
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if ctx.Err() != nil {
					break
				}
				t.statuses[resp.StatusCode]++
				if resp.StatusCode == http.StatusOK {
					t.ok++
					t.lat = append(t.lat, time.Since(t0))
				} else {
					t.other++
					if ra := resp.Header.Get("Retry-After"); ra != "" {
						// A refused client comes back when told, as the API asks.
						if s, err := strconv.Atoi(ra); err == nil {
							select {
							case <-ctx.Done():
							case <-time.After(time.Duration(s) * time.Second):
							}
						}
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	<-sampled
	r := result{statuses: map[int]uint64{}, elapsed: elapsed, peakRSS: peak.Load()}
	for _, t := range tallies {
		r.ok += t.ok
		r.other += t.other
		r.errs += t.errs
		for k, v := range t.statuses {
			r.statuses[k] += v
		}
		r.lat = append(r.lat, t.lat...)
	}
	slices.Sort(r.lat)
	_, r.hwm, _ = dccprobe.ProcessMemory(pid)
	return r
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// compare runs both phases against both servers and prints the table.
func compare(ctx context.Context, o options, out io.Writer) error {
	cit, err := startChild(ctx, "--serve", "citizen")
	if err != nil {
		return err
	}
	defer cit.stop()
	ech, err := startChild(ctx, "--serve", "echo", "--size", strconv.Itoa(cit.ready.Size))
	if err != nil {
		return err
	}
	defer ech.stop()
	fmt.Fprintf(out, "body: citizen JSON %d bytes, echo %d bytes\n", cit.ready.Size, ech.ready.Size)
	type server struct {
		name, url, token string
		pid              int
	}
	servers := []server{
		{"echo (fixed body)", "http://" + ech.ready.Addr + ech.ready.Path, "", ech.cmd.Process.Pid},
		{"citizen JSON (token verified)", "http://" + cit.ready.Addr + cit.ready.Path, cit.ready.Token, cit.cmd.Process.Pid},
	}
	// Warm up both (JWKS fetched, document cached, connections made).
	for _, s := range servers {
		load(ctx, s.url, s.token, 4, time.Second, s.pid)
	}
	phase := func(title string, n int, d time.Duration) []result {
		fmt.Fprintf(out, "\n%s: %d clients, %s each\n", title, n, d)
		fmt.Fprintf(out, "| server | 200/s | p50 | p99 | other answers | errors | server RSS peak in phase | VmHWM |\n| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |\n")
		var rs []result
		for _, s := range servers {
			r := load(ctx, s.url, s.token, n, d, s.pid)
			others := []string{}
			for code, c := range r.statuses {
				if code != http.StatusOK {
					others = append(others, fmt.Sprintf("%d: %d", code, c))
				}
			}
			fmt.Fprintf(out, "| %s | %.0f | %s | %s | %s | %d | %s | %s |\n", s.name, r.rate(), ms(r.pct(0.50)), ms(r.pct(0.99)),
				strings.Join(others, ", "), r.errs, mib(r.peakRSS), mib(r.hwm))
			rs = append(rs, r)
			if ctx.Err() != nil {
				break
			}
		}
		if len(rs) == 2 && rs[0].rate() > 0 {
			fmt.Fprintf(out, "citizen / echo throughput: %.2f\n", rs[1].rate()/rs[0].rate())
		}
		return rs
	}
	phase("throughput", o.clients, o.measure)
	if ctx.Err() == nil {
		phase("connections", o.conns, o.hold)
	}
	return ctx.Err()
}
