package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"time"
)

// report is what the run measured.
type report struct {
	visitors, admitted, direct, ticketed, notAdmitted int
	unexpected, transports                            int
	inversions, beforeTime                            int
	admittedRate, maxWindow, maxScheduled             float64
	engaged                                           time.Duration
	longestWait, longestWaitEstimate                  time.Duration
	worstOvershoot, p50Overshoot, p99Overshoot        time.Duration
	longestEstimate                                   time.Duration

	attacks  [attackKinds][2]int
	requests int64
	duration time.Duration

	base, during                     provided
	baseRate, rushRate               float64
	peakRSS, hwm                     int64
	rushCPU, baseCPU                 time.Duration
	serverAdmitted, serverPassedOver float64
	serverReservations               float64
	loadHeap                         uint64
}

// analyse computes the order, rate and wait figures from the visitors' records.
func analyse(vs []visitor) report {
	r := report{visitors: len(vs)}
	var admissions []time.Time
	var firstTicket time.Time
	var overshoots []time.Duration
	var scheduled []time.Time
	for _, v := range vs {
		if v.number > 0 {
			scheduled = append(scheduled, v.admitAt)
		}
		r.unexpected += v.unexpected
		r.transports += v.transports
		if v.beforeTime {
			r.beforeTime++
		}
		if v.number > 0 && (firstTicket.IsZero() || v.answered.Before(firstTicket)) {
			firstTicket = v.answered
		}
		if v.number > 0 {
			r.longestEstimate = max(r.longestEstimate, v.estimate)
		}
		if v.admitted.IsZero() {
			r.notAdmitted++
			continue
		}
		r.admitted++
		admissions = append(admissions, v.admitted)
		if v.direct {
			r.direct++
			continue
		}
		r.ticketed++
		wait := v.admitted.Sub(v.answered)
		over := wait - v.estimate
		overshoots = append(overshoots, over)
		if wait > r.longestWait {
			r.longestWait, r.longestWaitEstimate = wait, v.estimate
		}
	}
	r.inversions = inversions(vs)
	slices.SortFunc(admissions, func(a, b time.Time) int { return a.Compare(b) })
	if len(admissions) > 0 && !firstTicket.IsZero() {
		// The rate while the queue was engaged: from the first ticket to the last admission.
		from, to := firstTicket, admissions[len(admissions)-1]
		n := 0
		for _, t := range admissions {
			if !t.Before(from) {
				n++
			}
		}
		r.engaged = to.Sub(from)
		if r.engaged > 0 {
			r.admittedRate = float64(n) / r.engaged.Seconds()
		}
	}
	r.maxWindow = busiestSecond(admissions)
	slices.SortFunc(scheduled, func(a, b time.Time) int { return a.Compare(b) })
	r.maxScheduled = busiestSecond(scheduled)
	if len(overshoots) > 0 {
		slices.Sort(overshoots)
		r.worstOvershoot = overshoots[len(overshoots)-1]
		r.p50Overshoot = overshoots[len(overshoots)/2]
		r.p99Overshoot = overshoots[len(overshoots)*99/100]
	}
	return r
}

// busiestSecond is the most times of the sorted list within one second.
func busiestSecond(ts []time.Time) float64 {
	best, j := 0, 0
	for i := range ts {
		for j < len(ts) && ts[j].Sub(ts[i]) < time.Second {
			j++
		}
		best = max(best, j-i)
	}
	return float64(best)
}

// inversions counts visitors given a smaller number than someone who had their answer before
// they even asked: arrival order broken. Visitors let in at once have no number and are left out.
func inversions(vs []visitor) int {
	type rec struct {
		sent, answered time.Time
		number         uint64
	}
	var rs []rec
	for _, v := range vs {
		if v.number > 0 {
			rs = append(rs, rec{v.sent, v.answered, v.number})
		}
	}
	bySent := slices.Clone(rs)
	sort.Slice(bySent, func(a, b int) bool { return bySent[a].sent.Before(bySent[b].sent) })
	byAnswered := rs
	sort.Slice(byAnswered, func(a, b int) bool { return byAnswered[a].answered.Before(byAnswered[b].answered) })
	var highest uint64
	k, n := 0, 0
	for _, v := range bySent {
		for k < len(byAnswered) && byAnswered[k].answered.Before(v.sent) {
			highest = max(highest, byAnswered[k].number)
			k++
		}
		if highest > v.number {
			n++
		}
	}
	return n
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func (r report) print(w io.Writer, o options) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("| figure | measured | target |")
	p("| --- | --- | --- |")
	p("| visitors | %d arriving over %s (%.0f a second); %d let in at once, %d with a ticket, %d not let in by the end (%s after the start) | |",
		r.visitors, o.arrive, float64(r.visitors)/o.arrive.Seconds(), r.direct, r.ticketed, r.notAdmitted, secs(r.duration))
	p("| admitted rate while the queue was engaged | %.1f a second over %s (configured %v) | at most the configured rate |",
		r.admittedRate, secs(r.engaged), o.rate)
	p("| admission times given to tickets | at most %.0f within any one second | the configured rate |", r.maxScheduled)
	p("| admissions as the visitors saw them | at most %.0f within any one second (the initial burst, and visitors back on whole-second Retry-After, bunch) | |", r.maxWindow)
	p("| largest wait | %s, shown %s at arrival | within the estimate plus the refresh rounding |", secs(r.longestWait), secs(r.longestWaitEstimate))
	p("| wait beyond the estimate shown | median %s, 99th percentile %s, worst %s | |", secs(r.p50Overshoot), secs(r.p99Overshoot), secs(r.worstOvershoot))
	p("| longest estimate shown | %s | |", secs(r.longestEstimate))
	p("| order violations | %d numbers out of arrival order, %d let in before their time | 0 |", r.inversions, r.beforeTime)
	total := 0
	for k := range attackKinds {
		total += r.attacks[k][1]
	}
	p("| forged or replayed tickets accepted | %d | 0 |", total)
	for k := range attackKinds {
		p("| - %s | %d tried, %d accepted | 0 |", attackNames[k], r.attacks[k][0], r.attacks[k][1])
	}
	ratio := 0.0
	if r.baseRate > 0 {
		ratio = r.rushRate / r.baseRate
	}
	how := fmt.Sprintf("%d clinics sending %v a second on a fixed schedule", o.providers, o.providerRate)
	if o.providerRate == 0 {
		how = fmt.Sprintf("%d clinics sending as fast as answered", o.providers)
	}
	p("| providers' issuance during the rush (%s) | %.1f a second (%d failed; latency p50 %s, p99 %s) against %.1f alone (%d failed; p50 %s, p99 %s): %.0f %% | at least 90 %% |",
		how, r.rushRate, r.during.failed, ms(r.during.pct(0.5)), ms(r.during.pct(0.99)),
		r.baseRate, r.base.failed, ms(r.base.pct(0.5)), ms(r.base.pct(0.99)), 100*ratio)
	p("| providers' failed issuances | alone %v; during the rush %v | |", r.base.failures, r.during.failures)
	p("| server peak memory | %s (VmHWM; highest sampled RSS in the rush %s) | |", mib(r.hwm), mib(r.peakRSS))
	perIssue := time.Duration(0)
	if r.base.ok > 0 {
		perIssue = r.baseCPU / time.Duration(r.base.ok)
	}
	queueCPU := r.rushCPU - perIssue*time.Duration(r.during.ok)
	perReq := time.Duration(0)
	if r.requests > 0 {
		perReq = queueCPU / time.Duration(r.requests)
	}
	p("| server CPU | %s in the rush for %d visitor requests (%.1f a visitor) and %d issuances; %s a visitor request after taking out the issuances at their cost alone (%s each) | |",
		secs(r.rushCPU), r.requests, float64(r.requests)/float64(max(1, r.visitors)), r.during.ok, perReq, perIssue)
	p("| server's own count | %.0f let in (dcc_queue_admitted_total), %.0f places passed over, %.0f reservations from the store | |",
		r.serverAdmitted, r.serverPassedOver, r.serverReservations)
	p("| visitors' other answers | %d unexpected, %d transport errors | 0 |", r.unexpected, r.transports)
	p("| load generator memory | %s from the Go runtime | |", mib(int64(r.loadHeap)))
}
