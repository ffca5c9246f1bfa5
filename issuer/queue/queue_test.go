package queue

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/status"
	"github.com/sedcc/dcc/issuer/store/embedded"
)

// line is the shared counter as both stores keep it (one row, reserved atomically), in memory,
// for tests that need many reservations fast; the restart and replica tests use the embedded
// store itself.
type line struct {
	mu       sync.Mutex
	next     uint64
	frontier time.Time
	calls    int
	fail     error
}

func newLine() *line { return &line{next: 1} }

func (l *line) ReserveQueueSlots(_ context.Context, n int, earliest time.Time, interval time.Duration) (issuer.QueueBlock, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return issuer.QueueBlock{}, l.fail
	}
	l.calls++
	start := l.frontier
	if earliest.After(start) {
		start = earliest
	}
	b := issuer.QueueBlock{First: l.next, N: n, Start: start, Interval: interval}
	l.next += uint64(n)
	l.frontier = b.End()
	return b, nil
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func newQueue(t *testing.T, rate float64, burst int, st Slots, c *clock) *Queue {
	t.Helper()
	q, err := New(Config{Rate: rate, Burst: burst, Key: testKey, Store: st, Clock: c.now,
		AdmitTTL: 10 * time.Minute, Grace: 5 * time.Minute})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return q
}

func start() *clock { return &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)} }

// browser is a visitor's cookie jar.
type browser struct{ Visitor }

func (b *browser) enter(t *testing.T, q *Queue) Decision {
	t.Helper()
	d, err := q.Enter(context.Background(), b.Visitor)
	if err != nil {
		t.Fatalf("Enter: %v", err)
	}
	b.keep(d)
	return d
}

func (b *browser) keep(d Decision) {
	if d.Binding != "" {
		b.Binding = d.Binding
	}
	if d.ClearTicket {
		b.Ticket = ""
	}
	if d.Ticket != "" {
		b.Ticket = d.Ticket
	}
	if d.Pass != "" {
		b.Pass = d.Pass
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Rate: 0, Key: testKey, Store: newLine()},
		{Rate: -1, Key: testKey, Store: newLine()},
		{Rate: 10, Key: testKey[:31], Store: newLine()},
		{Rate: 10, Key: testKey},
		{Rate: 10, Key: testKey, Store: newLine(), Burst: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): no error", cfg)
		}
	}
}

// Under the rate nobody waits: the burst passes at once, the next newcomer waits one interval.
func TestUnderRateAdmitsAtOnce(t *testing.T) {
	c := start()
	q := newQueue(t, 10, 5, newLine(), c)
	for i := range 5 {
		var b browser
		if d := b.enter(t, q); !d.Admit || d.Pass == "" || d.Ticket != "" {
			t.Fatalf("newcomer %d of the burst: %+v, want admitted with a pass", i, d)
		}
	}
	var late browser
	d := late.enter(t, q)
	if d.Admit || d.Ticket == "" || d.Position != 1 || d.Wait != 100*time.Millisecond {
		t.Fatalf("newcomer after the burst: %+v, want a ticket, position 1, 100ms", d)
	}
	if s := q.Stats(); !s.Engaged || s.Direct != 5 || s.Tickets != 1 {
		t.Errorf("stats %+v, want engaged, 5 direct, 1 ticket", s)
	}
	// A quiet spell refills the burst.
	c.advance(2 * time.Second)
	var fresh browser
	if d := fresh.enter(t, q); !d.Admit {
		t.Errorf("newcomer after a quiet spell: %+v, want admitted", d)
	}
	if s := q.Stats(); s.Engaged {
		t.Errorf("stats after the spell %+v, want not engaged", s)
	}
}

// Newcomers are numbered in arrival order, their admission times rise by 1/rate, and each is
// let in at its time, not before.
func TestOrderAndPacing(t *testing.T) {
	c := start()
	q := newQueue(t, 50, 1, newLine(), c)
	var first browser
	first.enter(t, q) // takes the burst
	const n = 300
	bs := make([]browser, n)
	var prev Decision
	for i := range bs {
		d := bs[i].enter(t, q)
		if d.Admit {
			t.Fatalf("newcomer %d admitted at once in a rush", i)
		}
		if i > 0 && (d.Number <= prev.Number || d.AdmitAt.Sub(prev.AdmitAt) != 20*time.Millisecond || d.Position != prev.Position+1) {
			t.Fatalf("newcomer %d: %+v after %+v: want the next number, 20ms later, one place further", i, d, prev)
		}
		prev = d
	}
	// Walk the clock in steps; at each step everyone polls. Those let in must be exactly those
	// whose time has come, and in number order.
	var admitted []uint64
	in := make([]bool, n)
	for step := 0; step < 400 && len(admitted) < n; step++ {
		c.advance(20 * time.Millisecond)
		for i := range bs {
			if in[i] {
				continue
			}
			before := bs[i].Ticket
			d := bs[i].enter(t, q)
			if d.Admit {
				if c.now().Before(d.AdmitAt) {
					t.Fatalf("number %d let in at %s before its time %s", d.Number, c.now(), d.AdmitAt)
				}
				in[i] = true
				admitted = append(admitted, d.Number)
			} else if bs[i].Ticket != before {
				t.Fatalf("waiting visitor %d was given a new ticket", i)
			}
		}
		if step == 100 {
			// Mid-line: the head of the line waited as long as it has been since it arrived.
			if s := q.Stats(); !s.Engaged || s.OldestWait != c.now().Sub(start().now()) {
				t.Errorf("at %s: stats %+v, want engaged, the head waited %s", c.now(), s, c.now().Sub(start().now()))
			}
		}
	}
	if len(admitted) != n || !slices.IsSorted(admitted) {
		t.Fatalf("admitted %d of %d, sorted %v", len(admitted), n, slices.IsSorted(admitted))
	}
	c.advance(20 * time.Millisecond) // the frontier: one interval after the last place
	if s := q.Stats(); s.Engaged || s.OldestWait != 0 || s.Length != 0 {
		t.Errorf("after the line: stats %+v, want not engaged, no wait", s)
	}
	if s := q.Stats(); s.Admitted != n+1 || s.Tickets != n {
		t.Errorf("stats %+v, want %d admitted, %d tickets", s, n+1, n)
	}
}

// Concurrent newcomers get distinct numbers whose times rise with them.
func TestConcurrentNewcomers(t *testing.T) {
	c := start()
	st := newLine()
	q := newQueue(t, 1000, 1, st, c)
	var mu sync.Mutex
	at := map[uint64]time.Time{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				var b browser
				d := b.enter(t, q)
				mu.Lock()
				if _, dup := at[d.Number]; dup {
					t.Errorf("number %d given twice", d.Number)
				}
				at[d.Number] = d.AdmitAt
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	nums := make([]uint64, 0, len(at))
	for n := range at {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	for i := 1; i < len(nums); i++ {
		if !at[nums[i]].After(at[nums[i-1]]) {
			t.Fatalf("number %d at %s, number %d at %s: times do not rise with numbers", nums[i-1], at[nums[i-1]], nums[i], at[nums[i]])
		}
	}
	if st.calls >= len(nums) {
		t.Errorf("%d reservations for %d newcomers in a rush: want blocks", st.calls, len(nums))
	}
}

// A made-up, edited or foreign-key ticket is refused and the bearer goes to the back.
func TestForgedTickets(t *testing.T) {
	c := start()
	q := newQueue(t, 1, 1, newLine(), c)
	var first, victim browser
	first.enter(t, q)
	victim.enter(t, q)
	for range 10 {
		var other browser
		other.enter(t, q)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(victim.Ticket)
	other, _ := New(Config{Rate: 1, Key: []byte("another key of at least 32 bytes!"), Store: newLine(), Clock: c.now})
	edited := slices.Clone(raw)
	edited[20] ^= 0x01 // the admission time
	flipped := slices.Clone(raw)
	flipped[len(flipped)-1] ^= 0x80
	cases := map[string]string{
		"garbage":      "not-a-ticket",
		"edited time":  base64.RawURLEncoding.EncodeToString(edited),
		"bad mac":      base64.RawURLEncoding.EncodeToString(flipped),
		"truncated":    victim.Ticket[:len(victim.Ticket)-2],
		"other key":    other.sealTicket(ticket{number: 1, issued: c.now(), admitAt: c.now(), bind: mustBind(t, victim.Binding)}),
		"empty fields": base64.RawURLEncoding.EncodeToString(make([]byte, ticketBody+macBytes)),
	}
	for name, tk := range cases {
		t.Run(name, func(t *testing.T) {
			b := browser{Visitor{Binding: victim.Binding, Ticket: tk}}
			d := b.enter(t, q)
			if d.Admit || d.Refused != Forged || d.Ticket == "" {
				t.Fatalf("decision %+v, want refused as forged and a new ticket", d)
			}
			if d.Number <= 12 {
				t.Errorf("a forged ticket got number %d, want the back of the line", d.Number)
			}
		})
	}
	// Forged passes are refused too.
	b := browser{Visitor{Binding: victim.Binding, Pass: "AAAA" + victim.Ticket}}
	if d := b.enter(t, q); d.Admit || d.Refused != Forged {
		t.Errorf("made-up pass: %+v, want refused", d)
	}
	if got := q.Stats().Refused[Forged]; got != uint64(len(cases))+1 {
		t.Errorf("forged refusals counted %d, want %d", got, len(cases)+1)
	}
}

func mustTicketNumber(t *testing.T, q *Queue, b browser) uint64 {
	t.Helper()
	tk, r := q.openTicket(b.Ticket, mustBind(t, b.Binding), q.now())
	if r != NotRefused {
		t.Fatalf("ticket refused: %s", r)
	}
	return tk.number
}

func mustBind(t *testing.T, v string) [bindingHashBytes]byte {
	h, ok := parseBinding(v)
	if !ok {
		t.Fatalf("binding %q does not parse", v)
	}
	return h
}

// A ticket or pass copied into another browser (another binding value) is not honoured there.
func TestOtherBrowser(t *testing.T) {
	c := start()
	q := newQueue(t, 1, 1, newLine(), c)
	var a, b browser
	if d := a.enter(t, q); !d.Admit {
		t.Fatal("first visitor not admitted")
	}
	b.enter(t, q) // b waits, has its own binding
	stolenPass := browser{Visitor{Binding: b.Binding, Pass: a.Pass}}
	if d := stolenPass.enter(t, q); d.Admit || d.Refused != OtherBrowser {
		t.Errorf("a's pass in b's browser: %+v, want refused as other-browser", d)
	}
	q2 := newQueue(t, 1, 1, newLine(), c)
	var x, y browser
	x.enter(t, q2)
	y.enter(t, q2)
	c.advance(2 * time.Second)
	yNumber := mustTicketNumber(t, q2, y)
	// The thieves are newcomers: whatever they get is a new place, never y's.
	thief := browser{Visitor{Ticket: y.Ticket}} // no binding: a new browser
	if d := thief.enter(t, q2); d.Refused != OtherBrowser || d.Number <= yNumber {
		t.Errorf("y's ticket without y's binding: %+v, want refused as other-browser and a new place", d)
	}
	thief = browser{Visitor{Binding: x.Binding, Ticket: y.Ticket}}
	if d := thief.enter(t, q2); d.Refused != OtherBrowser || d.Number <= yNumber {
		t.Errorf("y's ticket with x's binding: %+v, want refused as other-browser and a new place", d)
	}
	// y itself is still let in: the thieves did not spend the ticket.
	if d := y.enter(t, q2); !d.Admit {
		t.Errorf("y after the thieves: %+v, want admitted", d)
	}
}

// A ticket admits once: presenting it again (without the pass it earned) is a newcomer.
func TestTicketAdmitsOnce(t *testing.T) {
	c := start()
	q := newQueue(t, 1, 1, newLine(), c)
	var first, b browser
	first.enter(t, q)
	b.enter(t, q)
	spent := b.Visitor
	c.advance(time.Second)
	if d := b.enter(t, q); !d.Admit || !d.ClearTicket {
		t.Fatalf("at its time: %+v, want admitted and the ticket cleared", d)
	}
	replay := browser{Visitor{Binding: spent.Binding, Ticket: spent.Ticket}}
	d := replay.enter(t, q)
	if d.Admit || d.Refused != Used {
		t.Fatalf("replayed ticket: %+v, want refused as used", d)
	}
	// The pass it earned still works in its own browser.
	if d := b.enter(t, q); !d.Admit {
		t.Errorf("with the pass: %+v, want admitted", d)
	}
}

// Passes last AdmitTTL; tickets can be redeemed until their grace ends; leaving and coming back
// within it keeps the place.
func TestExpiryAndReturn(t *testing.T) {
	c := start()
	q := newQueue(t, 1, 1, newLine(), c)
	var a browser
	a.enter(t, q)
	c.advance(10*time.Minute - time.Microsecond)
	if d := a.enter(t, q); !d.Admit || d.Pass != "" {
		t.Fatalf("pass just before its end: %+v, want admitted on the pass", d)
	}
	c.advance(time.Microsecond)
	if d := a.enter(t, q); d.Refused != Expired {
		t.Fatalf("pass at its end: %+v, want refused as expired", d)
	}

	// A rush: b is number 30 or so. b leaves, comes back before and after its time.
	for range 30 {
		var o browser
		o.enter(t, q)
	}
	var b browser
	first := b.enter(t, q)
	c.advance(first.Wait / 2)
	again := b.enter(t, q)
	if again.Number != first.Number || !again.AdmitAt.Equal(first.AdmitAt) || again.Position >= first.Position {
		t.Fatalf("coming back: %+v, first %+v: want the same place, nearer", again, first)
	}
	c.advance(first.Wait/2 + 4*time.Minute) // well after its time, within the 5 minutes' grace
	if d := b.enter(t, q); !d.Admit {
		t.Fatalf("back within the grace: %+v, want admitted", d)
	}
	var burst, late browser
	burst.enter(t, q)
	if d := late.enter(t, q); d.Ticket == "" {
		t.Fatalf("late visitor: %+v, want a ticket", d)
	}
	c.advance(6 * time.Minute)
	if d := late.enter(t, q); d.Refused != Expired || !d.ClearTicket {
		t.Fatalf("back after the grace: %+v, want refused as expired", d)
	}
}

// A restart (a new queue over the same store, same key) honours the old tickets and continues
// the numbers after them; so does a second replica at the same time.
func TestRestartAndReplicas(t *testing.T) {
	dir := t.TempDir()
	st, err := embedded.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := start()
	q1 := newQueue(t, 10, 1, st, c)
	var bs []browser
	for range 20 {
		var b browser
		b.enter(t, q1)
		bs = append(bs, b)
	}
	last := bs[len(bs)-1]
	lastD, _ := q1.Enter(context.Background(), last.Visitor)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st2, err := embedded.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	q2 := newQueue(t, 10, 1, st2, c)
	replica := newQueue(t, 10, 1, st2, c)
	// The waiting keep their places after the restart.
	for i, b := range bs[1:] {
		d, err := q2.Enter(context.Background(), b.Visitor)
		if err != nil || d.Admit || d.Ticket != "" || d.Refused != NotRefused {
			t.Fatalf("visitor %d after the restart: %+v %v, want still waiting with the same ticket", i+1, d, err)
		}
	}
	var newcomer, other browser
	nd := newcomer.enter(t, q2)
	od := other.enter(t, replica)
	if nd.Number <= lastD.Number || !nd.AdmitAt.After(lastD.AdmitAt) {
		t.Errorf("newcomer after the restart: number %d at %s, want after %d at %s", nd.Number, nd.AdmitAt, lastD.Number, lastD.AdmitAt)
	}
	if od.Number <= nd.Number || !od.AdmitAt.After(nd.AdmitAt) {
		t.Errorf("newcomer at the replica: number %d at %s, want after %d at %s", od.Number, od.AdmitAt, nd.Number, nd.AdmitAt)
	}
	// At its time, the last old ticket is let in by the replica that never saw it.
	c.advance(lastD.Wait)
	if d, err := replica.Enter(context.Background(), last.Visitor); err != nil || !d.Admit {
		t.Errorf("old ticket at the replica at its time: %+v %v, want admitted", d, err)
	}
}

// When the store cannot reserve, a newcomer's answer is the store's error; visitors with a pass
// or a ticket are still served from their cookies alone.
func TestStoreDown(t *testing.T) {
	c := start()
	st := newLine()
	q := newQueue(t, 1, 1, st, c)
	var a, b browser
	a.enter(t, q)
	b.enter(t, q)
	st.fail = fmt.Errorf("reserve: %w", issuer.ErrStoreUnavailable)
	if _, err := q.Enter(context.Background(), Visitor{}); !errors.Is(err, issuer.ErrStoreUnavailable) {
		t.Errorf("newcomer with the store down: error %v, want ErrStoreUnavailable", err)
	}
	if d := a.enter(t, q); !d.Admit {
		t.Errorf("pass with the store down: %+v, want admitted", d)
	}
	if d := b.enter(t, q); d.Admit || d.Position != 1 {
		t.Errorf("ticket with the store down: %+v, want waiting at position 1", d)
	}
	if q.Stats().StoreErrors != 1 {
		t.Errorf("store errors %d, want 1", q.Stats().StoreErrors)
	}
}

// Over any second of a long rush, admissions never exceed the rate (plus the burst at its start).
func TestAdmissionsKeepToTheRate(t *testing.T) {
	c := start()
	const rate = 20
	q := newQueue(t, rate, 5, newLine(), c)
	type waiter struct {
		b  *browser
		at time.Time
	}
	var waiting []waiter
	var times []time.Time
	for tick := range 2000 { // 20 s in steps of 10ms, one newcomer a step: 5 x the rate
		b := &browser{}
		if d := b.enter(t, q); d.Admit {
			times = append(times, c.now())
		} else {
			waiting = append(waiting, waiter{b, d.AdmitAt})
		}
		if tick%10 == 0 {
			// Everyone whose time has come (and, to try, the next few) comes back.
			for i, w := range waiting {
				if w.b.Pass != "" || i > len(times)+20 {
					continue
				}
				if d := w.b.enter(t, q); d.Admit {
					times = append(times, c.now())
				} else if !c.now().Before(w.at) {
					t.Fatalf("number %d not admitted at its time", d.Number)
				}
			}
		}
		c.advance(10 * time.Millisecond)
	}
	for i := range times {
		j := i
		for j < len(times) && times[j].Sub(times[i]) < time.Second {
			j++
		}
		if j-i > rate+5+1 {
			t.Fatalf("%d admissions within one second from %s, want at most %d", j-i, times[i], rate+5+1)
		}
	}
	if len(times) < 19*rate {
		t.Errorf("%d admitted in 20 s at %d a second: the queue admits too few", len(times), rate)
	}
}

func TestRedeemedForgetsOldWords(t *testing.T) {
	var r redeemed
	r.words = map[uint64]word{}
	t0 := start().now()
	for n := range uint64(64 * 100) {
		if !r.mark(n, t0, time.Minute) {
			t.Fatalf("number %d marked twice", n)
		}
	}
	if r.mark(5, t0, time.Minute) {
		t.Fatal("number 5 marked again")
	}
	later := t0.Add(3 * time.Minute)
	for n := uint64(64 * 100); n < 64*100+1024; n++ {
		r.mark(n, later, time.Minute)
	}
	if got := r.size(); got != 16 {
		t.Errorf("%d words kept after the old ones' grace, want 16", got)
	}
}

// The status light: green while nobody waits, yellow with the wait while people do.
func TestProbe(t *testing.T) {
	c := start()
	q := newQueue(t, 2, 1, newLine(), c)
	if light, text := q.Probe()(context.Background()); light != status.Green || !strings.Contains(text, "at once") {
		t.Errorf("idle: %s %q", light, text)
	}
	for range 241 {
		var b browser
		b.enter(t, q)
	}
	light, text := q.Probe()(context.Background())
	// 240 tickets at 2 a second: a newcomer would be the 241st, two minutes and a half second on.
	if light != status.Yellow || !strings.Contains(text, "3 minutes") || !strings.Contains(text, "241 places") {
		t.Errorf("in a rush: %s %q", light, text)
	}
	if s := q.Stats(); s.Length != 241 || s.Wait != 2*time.Minute+500*time.Millisecond {
		t.Errorf("stats %+v, want 241 places, 2m0.5s", s)
	}
}
