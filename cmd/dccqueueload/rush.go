package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dccprobe "github.com/sedcc/dcc/cmd/internal/probe"

	"github.com/sedcc/dcc/fhir/fhirtest"
)

// visitor is one simulated browser: its cookies and what it was told and when.
type visitor struct {
	page                   bool // reads the HTML waiting page, not the JSON answer
	binding, ticket, pass  string
	spent                  string    // the ticket it was let in with
	sent                   time.Time // its first request left
	answered               time.Time // its first answer arrived
	number                 uint64    // its place (0: let in at once)
	admitAt                time.Time // the admission time shown at arrival
	estimate               time.Duration
	admitted               time.Time
	direct                 bool
	requests               int
	beforeTime             bool // let in before the admission time it was shown
	unexpected, transports int
}

// outcome of one attack: what was presented, and whether it was honoured.
type attackKind int

const (
	attackForged attackKind = iota
	attackEdited
	attackForeign
	attackReplay
	attackKinds
)

var attackNames = [attackKinds]string{"forged (random signature)", "edited (admission time moved to now)", "another browser's ticket", "spent ticket replayed"}

type rushResult struct {
	visitors []visitor
	start    time.Time
	end      time.Time
	attacks  [attackKinds][2]int // tried, accepted
	requests atomic.Int64
}

func loopbackClient(n int) *http.Client {
	tr := &http.Transport{DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext, MaxIdleConns: n,
		MaxIdleConnsPerHost: n, MaxConnsPerHost: n, DisableCompression: true, IdleConnTimeout: time.Minute}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// answer is what one visit learnt.
type answer struct {
	status     int
	retryAfter time.Duration
	number     uint64
	admitAt    time.Time
	cookies    []*http.Cookie
}

// visit sends one request to / with the cookies and reads the answer.
func visit(ctx context.Context, cl *http.Client, base string, page bool, binding, ticket, pass string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
	if err != nil {
		return answer{}, err
	}
	var ck []string
	for _, c := range [][2]string{{"dcc_qb", binding}, {"dcc_qt", ticket}, {"dcc_qp", pass}} {
		if c[1] != "" {
			ck = append(ck, c[0]+"="+c[1])
		}
	}
	if len(ck) > 0 {
		req.Header.Set("Cookie", strings.Join(ck, "; "))
	}
	if page {
		req.Header.Set("Accept", "text/html")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := cl.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, cookies: resp.Cookies()}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		a.retryAfter = time.Duration(s) * time.Second
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		return a, nil
	}
	if page {
		a.number, _ = strconv.ParseUint(between(body, `<dd id="queue-number">`, "<"), 10, 64)
		a.admitAt, _ = time.Parse(time.RFC3339Nano, between(body, `<time datetime="`, `"`))
		return a, nil
	}
	var oo struct {
		Issue []struct {
			Details struct {
				Coding []struct{ Code string }
			}
			Extension []struct {
				URL          string
				ValueString  string
				ValueInteger *int64
				ValueInstant string
			}
		}
	}
	if err := json.Unmarshal(body, &oo); err != nil || len(oo.Issue) == 0 {
		return a, fmt.Errorf("503 without an OperationOutcome: %s", body)
	}
	for _, x := range oo.Issue[0].Extension {
		switch x.URL[strings.LastIndexByte(x.URL, '/')+1:] {
		case "queue-number":
			a.number, _ = strconv.ParseUint(x.ValueString, 10, 64)
		case "queue-admit-at":
			a.admitAt, _ = time.Parse(time.RFC3339Nano, x.ValueInstant)
		}
	}
	return a, nil
}

func between(b []byte, from, to string) string {
	i := bytes.Index(b, []byte(from))
	if i < 0 {
		return ""
	}
	rest := b[i+len(from):]
	j := bytes.Index(rest, []byte(to))
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

func cookie(cs []*http.Cookie, name string) (string, bool) {
	for _, c := range cs {
		if c.Name == name {
			return c.Value, true
		}
	}
	return "", false
}

// rushVisitors runs the visitors: they arrive evenly over o.arrive; each is sent again after
// each Retry-After until let in, or until o.max after the start.
func rushVisitors(ctx context.Context, o options, base string, res *rushResult) {
	vs := make([]visitor, o.visitors)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range vs {
		vs[i].page = rng.Float64() < o.pageShare
	}
	res.visitors = vs
	var mu sync.Mutex // guards vs
	ctx, cancel := context.WithTimeout(ctx, o.max)
	defer cancel()
	cl := loopbackClient(o.workers)
	defer cl.Transport.(*http.Transport).CloseIdleConnections()
	work := make(chan int, o.visitors)
	var pending sync.WaitGroup
	pending.Add(o.visitors)
	res.start = time.Now()

	var workers sync.WaitGroup
	for range o.workers {
		workers.Go(func() {
			for i := range work {
				mu.Lock()
				v := vs[i]
				mu.Unlock()
				sent := time.Now()
				a, err := visit(ctx, cl, base, v.page, v.binding, v.ticket, v.pass)
				got := time.Now()
				res.requests.Add(1)
				v.requests++
				if v.sent.IsZero() {
					v.sent = sent
				}
				var again time.Duration
				switch {
				case err != nil:
					v.transports++
					again = time.Second
				case a.status == http.StatusOK:
					v.admitted = got
					if v.answered.IsZero() {
						v.answered, v.direct = got, true
					}
					if !v.direct && got.Before(v.admitAt) {
						v.beforeTime = true
					}
					v.spent = v.ticket
				case a.status == http.StatusServiceUnavailable && a.number > 0:
					if v.answered.IsZero() {
						v.answered, v.number, v.admitAt = got, a.number, a.admitAt
						v.estimate = a.admitAt.Sub(got)
					} else if a.number != v.number {
						v.unexpected++ // given a new place: its ticket was not honoured
					}
					again = a.retryAfter
				default:
					v.unexpected++
					again = max(a.retryAfter, time.Second)
				}
				for _, name := range []string{"dcc_qb", "dcc_qt", "dcc_qp"} {
					if val, ok := cookie(a.cookies, name); ok {
						switch name {
						case "dcc_qb":
							v.binding = val
						case "dcc_qt":
							v.ticket = val
						case "dcc_qp":
							v.pass = val
						}
					}
				}
				mu.Lock()
				vs[i] = v
				mu.Unlock()
				if !v.admitted.IsZero() || ctx.Err() != nil {
					pending.Done()
					continue
				}
				time.AfterFunc(again, func() {
					select {
					case work <- i:
					case <-ctx.Done():
						pending.Done()
					}
				})
			}
		})
	}
	// Arrivals, evenly spread.
	go func() {
		step := o.arrive / time.Duration(o.visitors)
		for i := range vs {
			if d := time.Until(res.start.Add(time.Duration(i) * step)); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					for range vs[i:] {
						pending.Done()
					}
					return
				}
			}
			work <- i
		}
	}()
	attacked := make(chan struct{})
	go func() {
		defer close(attacked)
		attack(ctx, o, base, res, vs, &mu)
	}()
	pending.Wait()
	res.end = time.Now()
	cancel()
	close(work)
	workers.Wait()
	<-attacked
}

// attack presents o.attacks bad tickets, evenly over the arrival window once the line has
// formed: made-up ones, real ones with the admission time edited, real ones from another browser,
// and spent ones again. Each is accepted if it is let in, or keeps the place it names.
func attack(ctx context.Context, o options, base string, res *rushResult, vs []visitor, mu *sync.Mutex) {
	if o.attacks == 0 {
		return
	}
	cl := loopbackClient(4)
	defer cl.Transport.(*http.Transport).CloseIdleConnections()
	rng := rand.New(rand.NewPCG(3, 4))
	begin := o.arrive / 10
	step := (o.arrive - begin) / time.Duration(o.attacks)
	for n := range o.attacks {
		select {
		case <-time.After(time.Until(res.start.Add(begin + time.Duration(n)*step))):
		case <-ctx.Done():
			return
		}
		kind := attackKind(n % int(attackKinds))
		// A victim: a visitor waiting with a ticket (or, to replay, one let in with one).
		var victim visitor
		mu.Lock()
		for range 200 {
			v := vs[rng.IntN(len(vs))]
			if kind == attackReplay && v.spent != "" || kind != attackReplay && v.ticket != "" && v.admitted.IsZero() && v.number > 0 {
				victim = v
				break
			}
		}
		mu.Unlock()
		if victim.binding == "" {
			continue
		}
		binding, ticket, want := victim.binding, victim.ticket, victim.number
		switch kind {
		case attackForged:
			raw := make([]byte, 73)
			for i := range raw {
				raw[i] = byte(rng.Uint32())
			}
			raw[0] = 1
			ticket, want = base64.RawURLEncoding.EncodeToString(raw), 0
		case attackEdited:
			raw, err := base64.RawURLEncoding.DecodeString(ticket)
			if err != nil || len(raw) < 25 {
				continue
			}
			binary.BigEndian.PutUint64(raw[17:], uint64(time.Now().UnixMicro()))
			ticket = base64.RawURLEncoding.EncodeToString(raw)
		case attackForeign:
			binding = "" // a browser without the victim's binding value
		case attackReplay:
			ticket, want = victim.spent, 0
		}
		a, err := visit(ctx, cl, base, false, binding, ticket, "")
		if err != nil {
			continue
		}
		res.attacks[kind][0]++
		if a.status == http.StatusOK || want != 0 && a.number == want {
			res.attacks[kind][1]++
		}
	}
}

// provided is what the providers' clients achieved.
type provided struct {
	ok, failed int64
	lat        []time.Duration // of the successful issuances, from when each was due
	// failures by the answer's status and problem code ("0" when no answer came)
	failures map[string]int64
}

func (p provided) pct(q float64) time.Duration {
	if len(p.lat) == 0 {
		return 0
	}
	return p.lat[min(len(p.lat)-1, int(float64(len(p.lat))*q))]
}

// providers issues test certificates until ctx ends. At a rate (above 0) the issuances are sent
// on a fixed schedule, each clinic in turn, whatever the answers take (an open loop, as clinics
// send results as they come): the figure is whether they are all served, and how fast. At rate 0
// n clients send one after the other as fast as they are answered (a closed loop): the figure is
// how many the machine can issue.
func providers(ctx context.Context, n int, rate float64, base string, keys []string, tag string) provided {
	if n == 0 {
		return provided{}
	}
	cl := loopbackClient(64)
	defer cl.Transport.(*http.Transport).CloseIdleConnections()
	var mu sync.Mutex
	var res provided
	issue := func(w, i int, due time.Time) {
		body := fhirtest.Observation(fhirtest.RAT, fhirtest.Now(time.Now()), fhirtest.Identifier(fmt.Sprintf("QL-%s-%d-%d", tag, w, i)))
		req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, base+"/api/v1/observation", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+keys[w%len(keys)])
		req.Header.Set("Content-Type", "application/fhir+json")
		resp, err := cl.Do(req)
		ok := err == nil && resp.StatusCode == http.StatusOK
		why := "no answer"
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			why = strconv.Itoa(resp.StatusCode) + " " + between(b, `CodeSystem/problem","code":"`, `"`)
		}
		mu.Lock()
		if ok {
			res.ok++
			res.lat = append(res.lat, time.Since(due))
		} else {
			res.failed++
			if res.failures == nil {
				res.failures = map[string]int64{}
			}
			res.failures[why]++
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	if rate > 0 {
		start := time.Now()
		interval := time.Duration(float64(time.Second) / rate)
		for i := 0; ; i++ {
			due := start.Add(time.Duration(i) * interval)
			select {
			case <-time.After(time.Until(due)):
			case <-ctx.Done():
				wg.Wait()
				slices.Sort(res.lat)
				return res
			}
			wg.Go(func() { issue(i%n, i, due) })
		}
	}
	for w := range n {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				issue(w, i, time.Now())
			}
		})
	}
	wg.Wait()
	slices.Sort(res.lat)
	return res
}

// rush runs the whole measurement and prints the report.
func rush(ctx context.Context, o options, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "dccqueueload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := build(ctx, &o, dir); err != nil {
		return err
	}
	srv, err := start(ctx, o, dir)
	if err != nil {
		return err
	}
	defer srv.stop()
	if !strings.HasPrefix(srv.url, "http://127.0.0.1:") {
		return fmt.Errorf("dccqueueload loads loopback servers only, not %s", srv.url)
	}

	fmt.Fprintf(stderr, "providers alone for %s\n", o.baseline)
	bctx, bcancel := context.WithTimeout(ctx, o.baseline)
	cpu0 := dccprobe.ProcessCPU(srv.cmd.Process.Pid)
	base := providers(bctx, o.providers, o.providerRate, srv.url, srv.keys, "base")
	bcancel()
	baseCPU := dccprobe.ProcessCPU(srv.cmd.Process.Pid) - cpu0

	fmt.Fprintf(stderr, "rush: %d visitors over %s at %v a second\n", o.visitors, o.arrive, o.rate)
	var res rushResult
	pctx, pcancel := context.WithCancel(ctx)
	var during provided
	provDone := make(chan struct{})
	go func() {
		defer close(provDone)
		// Providers issue during the arrival window, the height of the rush.
		actx, acancel := context.WithTimeout(pctx, o.arrive)
		defer acancel()
		during = providers(actx, o.providers, o.providerRate, srv.url, srv.keys, "rush")
	}()
	var peak atomic.Int64
	sampling := make(chan struct{})
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, _, _ := dccprobe.ProcessMemory(srv.cmd.Process.Pid); rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-sampling:
				return
			case <-t.C:
			}
		}
	}()
	cpu1 := dccprobe.ProcessCPU(srv.cmd.Process.Pid)
	rushVisitors(ctx, o, srv.url, &res)
	<-provDone
	pcancel()
	rushCPU := dccprobe.ProcessCPU(srv.cmd.Process.Pid) - cpu1
	close(sampling)
	_, hwm, _ := dccprobe.ProcessMemory(srv.cmd.Process.Pid)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	rep := analyse(res.visitors)
	rep.attacks = res.attacks
	rep.requests = res.requests.Load()
	rep.duration = res.end.Sub(res.start)
	rep.base, rep.during = base, during
	rep.baseRate, rep.rushRate = float64(base.ok)/o.baseline.Seconds(), float64(during.ok)/o.arrive.Seconds()
	rep.peakRSS, rep.hwm = peak.Load(), hwm
	rep.rushCPU, rep.baseCPU = rushCPU, baseCPU
	rep.serverAdmitted = dccprobe.Metric(srv.url, `dcc_queue_admitted_total{way="direct"}`, 5*time.Second) + dccprobe.Metric(srv.url, `dcc_queue_admitted_total{way="ticket"}`, 5*time.Second)
	rep.serverPassedOver = dccprobe.Metric(srv.url, "dcc_queue_places_passed_over_total", 5*time.Second)
	rep.serverReservations = dccprobe.Metric(srv.url, `dcc_queue_reservations_total{outcome="ok"}`, 5*time.Second)
	rep.loadHeap = ms.Sys
	rep.print(stdout, o)
	return nil
}
