// Package queue is the citizens' virtual queue: when more people arrive than the service admits
// per second, each newcomer is given a signed ticket with a number and an admission time, and is
// let in when that time has come, strictly in the order of arrival.
//
// The server keeps no record of any visitor. The line is one shared counter in the store (the
// next number and the frontier, the admission time of the next place; issuer.QueueStore), from
// which each replica reserves short runs of places. Everything about a visitor travels with the
// visitor: a random binding value (a cookie), a ticket signed with HMAC-SHA256 that names its
// number, issue time, admission time and the hash of the binding value, and, once admitted, a
// signed pass valid for a bounded time. A ticket is verified by its signature alone, so a restart
// or another replica honours it; it cannot be forged or edited, and it is refused in a browser
// whose binding value is not the one it names. The only other memory is a bitmap of numbers
// already redeemed on this replica, one bit a number, so that a ticket admits once.
//
// Admission is paced like the generic cell rate algorithm: a place's time is the later of the
// frontier and now less the burst window, and the frontier moves on by 1/rate per place. While
// people arrive more slowly than the rate, every place's time has already come and nobody waits;
// when they arrive faster, the frontier runs ahead of now and newcomers wait for their time.
//
// The package knows no HTTP: it takes the cookie values a request carries and answers with a
// decision (in, or wait) and the cookie values to set.
package queue

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
)

// storeRetryAfter is the wait a newcomer is asked for while the store cannot reserve places.
const storeRetryAfter = 5 * time.Second

// Defaults of Config.
const (
	DefaultAdmitTTL  = 10 * time.Minute
	DefaultGrace     = 10 * time.Minute
	DefaultBlockTime = 100 * time.Millisecond
)

// MinKeyBytes is the shortest key Config accepts.
const MinKeyBytes = 32

// Slots is the part of the store the queue uses.
type Slots interface {
	ReserveQueueSlots(ctx context.Context, n int, earliest time.Time, interval time.Duration) (issuer.QueueBlock, error)
}

// Config describes the queue.
type Config struct {
	// Rate is the number of newcomers admitted per second. Required, above 0.
	Rate float64
	// Burst is how many newcomers may be admitted at once after a quiet spell (default: one
	// second's worth, at least 1).
	Burst int
	// AdmitTTL is how long an admission (the pass) lasts (DefaultAdmitTTL).
	AdmitTTL time.Duration
	// Grace is how long after its admission time a ticket may still be redeemed: a visitor who
	// left comes back within it and keeps their place (DefaultGrace).
	Grace time.Duration
	// BlockTime bounds how much of the rate one reservation from the store covers: at most
	// Rate x BlockTime places at once (DefaultBlockTime). Longer blocks touch the store less;
	// shorter ones keep replicas' numbers closer to arrival order.
	BlockTime time.Duration
	// Key signs tickets and passes: the same on every replica, at least MinKeyBytes.
	Key []byte
	// Store holds the shared line. Required.
	Store Slots
	// Clock is the time (default time.Now).
	Clock func() time.Time
}

// Queue admits citizens at a rate, in order. It is safe for concurrent use.
type Queue struct {
	rate      float64
	interval  time.Duration
	burst     time.Duration // the burst window: (Burst-1) x interval, so that Burst places are due at once
	admitTTL  time.Duration
	grace     time.Duration
	blockTime time.Duration
	maxBlock  int
	ticketKey []byte
	passKey   []byte
	store     Slots
	now       func() time.Time

	mu       sync.Mutex
	block    issuer.QueueBlock
	used     int       // places of block handed out or passed over
	lastAt   time.Time // when the current block was reserved
	arrivals int       // newcomers since lastAt
	redeemed redeemed

	frontierUS  atomic.Int64 // the end of the last block reserved here, Unix microseconds
	headWaitNS  atomic.Int64 // the wait of the last ticket redeemed, nanoseconds
	headAtUS    atomic.Int64 // when that ticket was redeemed
	admitted    atomic.Uint64
	direct      atomic.Uint64
	tickets     atomic.Uint64
	passedOver  atomic.Uint64
	reserves    atomic.Uint64
	storeErrors atomic.Uint64
	refused     [refusalCount]atomic.Uint64
}

// New checks cfg and builds the queue.
func New(cfg Config) (*Queue, error) {
	var errs []error
	if !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0) || cfg.Rate > 1e6 {
		errs = append(errs, fmt.Errorf("queue: rate %v admissions a second, want above 0 and at most 1000000", cfg.Rate))
	}
	if cfg.Burst < 0 || cfg.AdmitTTL < 0 || cfg.Grace < 0 || cfg.BlockTime < 0 {
		errs = append(errs, errors.New("queue: burst, admission time, grace and block time must not be negative"))
	}
	if len(cfg.Key) < MinKeyBytes {
		errs = append(errs, fmt.Errorf("queue: key of %d bytes, want at least %d", len(cfg.Key), MinKeyBytes))
	}
	if cfg.Store == nil {
		errs = append(errs, errors.New("queue: no store for the shared line"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.Burst == 0 {
		cfg.Burst = max(1, int(math.Ceil(cfg.Rate)))
	}
	if cfg.AdmitTTL == 0 {
		cfg.AdmitTTL = DefaultAdmitTTL
	}
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.BlockTime == 0 {
		cfg.BlockTime = DefaultBlockTime
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	// The store keeps microseconds: the interval is a whole number of them.
	interval := max(time.Duration(float64(time.Second)/cfg.Rate).Truncate(time.Microsecond), time.Microsecond)
	q := &Queue{
		rate:      float64(time.Second) / float64(interval),
		interval:  interval,
		burst:     time.Duration(cfg.Burst-1) * interval,
		admitTTL:  cfg.AdmitTTL,
		grace:     cfg.Grace,
		blockTime: cfg.BlockTime,
		maxBlock:  max(1, int(cfg.BlockTime/interval)),
		ticketKey: derive(cfg.Key, "dcc queue ticket"),
		passKey:   derive(cfg.Key, "dcc queue pass"),
		store:     cfg.Store,
		now:       cfg.Clock,
		redeemed:  redeemed{words: map[uint64]word{}},
	}
	return q, nil
}

func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Visitor is what a request carries: the cookie values, empty when absent.
type Visitor struct {
	Binding string
	Ticket  string
	Pass    string
	// NewPlace, when set, is asked before a newcomer is given a place; its error is Enter's, and
	// no place is taken (a limit on newcomers per client address).
	NewPlace func() error
}

// Refusal says why a ticket or pass a visitor presented was not honoured.
type Refusal int

// Reasons for not honouring a presented ticket or pass.
const (
	NotRefused Refusal = iota
	// Forged: the signature does not verify (made up or edited).
	Forged
	// OtherBrowser: the ticket or pass names another browser's binding value.
	OtherBrowser
	// Expired: a ticket past its grace, or a pass past its time.
	Expired
	// Used: a ticket already redeemed on this replica.
	Used
	refusalCount
)

func (r Refusal) String() string {
	switch r {
	case NotRefused:
		return "none"
	case Forged:
		return "forged"
	case OtherBrowser:
		return "other-browser"
	case Expired:
		return "expired"
	case Used:
		return "used"
	}
	return fmt.Sprintf("refusal(%d)", int(r))
}

// Refusals lists the reasons, for metrics.
func Refusals() []Refusal { return []Refusal{Forged, OtherBrowser, Expired, Used} }

// Decision is the queue's answer to one request.
type Decision struct {
	// Admit: the visitor is in. Otherwise they wait for AdmitAt.
	Admit bool
	// Binding, Ticket, Pass: cookie values to set; empty leaves the cookie as it is.
	// ClearTicket: the ticket cookie is spent or refused and goes.
	Binding, Ticket, Pass string
	ClearTicket           bool
	PassUntil             time.Time
	// The visitor's place: their number, when the ticket was issued, when they are admitted, how
	// many places are before theirs and how long that is from now.
	Number   uint64
	IssuedAt time.Time
	AdmitAt  time.Time
	Position int64
	Wait     time.Duration
	// TicketEnds is when the ticket can no longer be redeemed (AdmitAt plus the grace).
	TicketEnds time.Time
	// Refused says why a presented ticket or pass was not honoured (NotRefused when none was).
	Refused Refusal
}

// Enter decides on one request. A valid pass admits; a valid ticket admits once its time has
// come and waits before; anything else is a newcomer, who takes the next place. The error is the
// store's, when a newcomer's place cannot be reserved.
func (q *Queue) Enter(ctx context.Context, v Visitor) (Decision, error) {
	now := q.now()
	var d Decision
	bind, ok := parseBinding(v.Binding)
	if !ok {
		// A new browser (or a mangled cookie): a fresh binding value, no ticket or pass can be its.
		raw := make([]byte, bindingBytes)
		if _, err := rand.Read(raw); err != nil {
			return Decision{}, fmt.Errorf("queue binding value: %w", err)
		}
		d.Binding = base64.RawURLEncoding.EncodeToString(raw)
		bind = bindingHash(raw)
	}
	if v.Pass != "" {
		p, r := q.openPass(v.Pass, bind, now)
		if r == NotRefused {
			d.Admit, d.Number, d.PassUntil = true, p.number, p.until
			return d, nil
		}
		d.Refused = r
		q.refused[r].Add(1)
	}
	if v.Ticket != "" {
		t, r := q.openTicket(v.Ticket, bind, now)
		if r == NotRefused && now.Before(t.admitAt) {
			q.describe(&d, t, now)
			return d, nil
		}
		if r == NotRefused && !q.redeemed.mark(t.number, now, q.grace) {
			r = Used
		}
		if r == NotRefused {
			q.describe(&d, t, now)
			d.Refused = NotRefused
			q.admit(&d, t.number, bind, now)
			d.ClearTicket = true
			wait := now.Sub(t.issued)
			q.headWaitNS.Store(int64(wait))
			q.headAtUS.Store(now.UnixMicro())
			return d, nil
		}
		d.Refused = r
		d.ClearTicket = true
		q.refused[r].Add(1)
	}
	if v.NewPlace != nil {
		if err := v.NewPlace(); err != nil {
			return Decision{}, err
		}
	}
	number, at, err := q.take(ctx, now)
	if err != nil {
		return Decision{}, err
	}
	if !at.After(now) {
		d.Number, d.AdmitAt = number, at
		q.direct.Add(1)
		q.admit(&d, number, bind, now)
		return d, nil
	}
	t := ticket{number: number, issued: now, admitAt: at, bind: bind}
	d.Ticket = q.sealTicket(t)
	d.ClearTicket = false
	q.tickets.Add(1)
	q.describe(&d, t, now)
	return d, nil
}

func (q *Queue) describe(d *Decision, t ticket, now time.Time) {
	d.Number, d.IssuedAt, d.AdmitAt, d.TicketEnds = t.number, t.issued, t.admitAt, t.admitAt.Add(q.grace)
	if wait := t.admitAt.Sub(now); wait > 0 {
		d.Wait = wait
		d.Position = int64(math.Ceil(float64(wait) / float64(q.interval)))
	}
}

func (q *Queue) admit(d *Decision, number uint64, bind [bindingHashBytes]byte, now time.Time) {
	d.Admit = true
	d.PassUntil = now.Add(q.admitTTL)
	d.Pass = q.sealPass(pass{number: number, until: d.PassUntil, bind: bind})
	q.admitted.Add(1)
}

// take hands out the next place: from the block reserved here while its places' times are
// within the burst window, else from a new block. A place whose time passed unused is passed
// over, never handed out late, so that admissions keep to the rate.
func (q *Queue) take(ctx context.Context, now time.Time) (uint64, time.Time, error) {
	earliest := now.Add(-q.burst)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.arrivals++
	for q.used < q.block.N {
		i := q.used
		q.used++
		if at := q.block.At(i); !at.Before(earliest) {
			return q.block.Number(i), at, nil
		}
		q.passedOver.Add(1)
	}
	// The block's size follows this replica's arrivals over the last one: one place when
	// newcomers are few (nothing reserved goes unused), up to Rate x BlockTime in a rush.
	n := 1
	if !q.lastAt.IsZero() {
		since := max(now.Sub(q.lastAt), time.Millisecond)
		perSecond := float64(q.arrivals) / since.Seconds()
		n = int(math.Ceil(perSecond * q.blockTime.Seconds()))
	}
	n = min(max(n, 1), q.maxBlock)
	b, err := q.store.ReserveQueueSlots(ctx, n, earliest, q.interval)
	if err != nil {
		q.storeErrors.Add(1)
		if errors.Is(err, issuer.ErrStoreUnavailable) {
			return 0, time.Time{}, fmt.Errorf("%w: queue: %w", problem.New(problem.CodeStoreUnavailable, "", "").WithRetryAfter(storeRetryAfter), err)
		}
		return 0, time.Time{}, fmt.Errorf("%w: queue: %w", problem.Internal(), err)
	}
	q.reserves.Add(1)
	q.block, q.used, q.lastAt, q.arrivals = b, 1, now, 0
	q.frontierUS.Store(b.End().UnixMicro())
	return b.Number(0), b.At(0), nil
}

// Stats is a snapshot of the queue for metrics and the status page.
type Stats struct {
	// Rate is the admissions per second kept to.
	Rate float64
	// Length is the number of places between now and the frontier this replica last saw (those
	// waiting, and places not yet handed out of its own block).
	Length int64
	// Wait is how long a newcomer would wait now (from the frontier this replica last saw).
	Wait time.Duration
	// OldestWait is how long the ticket at the head of the line waited: the last one redeemed,
	// while the line is engaged; 0 otherwise.
	OldestWait time.Duration
	// Engaged: newcomers wait.
	Engaged bool
	// Admitted counts visitors let in (Direct of them without waiting); Tickets the tickets
	// issued; PassedOver places whose time went by before anyone took them; Reserves the
	// reservations from the store and StoreErrors those that failed.
	Admitted, Direct, Tickets, PassedOver, Reserves, StoreErrors uint64
	// Refused counts presented tickets and passes not honoured, by reason.
	Refused map[Refusal]uint64
}

// Stats reads the counters.
func (q *Queue) Stats() Stats {
	now := q.now()
	s := Stats{
		Rate:     q.rate,
		Admitted: q.admitted.Load(), Direct: q.direct.Load(), Tickets: q.tickets.Load(),
		PassedOver: q.passedOver.Load(), Reserves: q.reserves.Load(), StoreErrors: q.storeErrors.Load(),
		Refused: map[Refusal]uint64{},
	}
	for _, r := range Refusals() {
		s.Refused[r] = q.refused[r].Load()
	}
	if f := time.UnixMicro(q.frontierUS.Load()); f.After(now) {
		s.Wait = f.Sub(now)
		s.Length = int64(math.Ceil(float64(s.Wait) / float64(q.interval)))
		s.Engaged = true
		// The head's wait, while it is recent: a ticket was redeemed within the last two
		// seconds (and the burst window).
		if at := time.UnixMicro(q.headAtUS.Load()); now.Sub(at) < 2*time.Second+q.burst {
			s.OldestWait = time.Duration(q.headWaitNS.Load())
		}
	}
	return s
}
