package issuer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// AuditQueue records the audit events of requests refused before any work (no credential, rate
// limit, overload) off the request path. Answering a refusal must not wait for the store: under
// a rush refusals come by the ten thousand a second, and writing each one would take the store
// and the processor from the admitted work, turning "try again later" into a collapse.
//
// So refusals are recorded individually up to a budget (events per second) and written in
// batches, one commit each. Beyond the budget, or when the queue is full, a refusal is counted
// instead of recorded, and once a second the count is written to the audit log as one summary
// event (route "*", note "refusals-not-recorded:N"), so that support staff see that and when
// refusals were shed.
type AuditQueue struct {
	store  AuditWriter
	log    *slog.Logger
	newID  func() string
	now    func() time.Time
	budget *rate.Limiter // nil: no budget, only the queue bound
	events chan AuditEvent

	dropped  atomic.Uint64 // counted, not recorded
	written  atomic.Uint64 // recorded (summaries not included)
	unlogged atomic.Uint64 // dropped since the last summary event
	done     chan struct{}

	mu     sync.RWMutex // held for reading while sending, for writing while closing
	closed bool
}

// AuditQueueOptions bound the queue.
type AuditQueueOptions struct {
	// Size bounds the events waiting to be written.
	Size int
	// PerSecond is the most refusals recorded individually per second (with bursts of as many);
	// 0 records all that fit in the queue.
	PerSecond int
}

// NewAuditQueue starts the writer.
func NewAuditQueue(store AuditWriter, log *slog.Logger, newID func() string, now func() time.Time, o AuditQueueOptions) *AuditQueue {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	if o.Size < 1 {
		o.Size = 1
	}
	q := &AuditQueue{store: store, log: log, newID: newID, now: now, events: make(chan AuditEvent, o.Size), done: make(chan struct{})}
	if o.PerSecond > 0 {
		q.budget = rate.NewLimiter(rate.Limit(o.PerSecond), o.PerSecond)
	}
	go q.run()
	return q
}

// Add queues ev without blocking; it reports false when ev was counted instead of recorded.
func (q *AuditQueue) Add(ev AuditEvent) bool {
	if ev.ID == "" {
		ev.ID = q.newID()
	}
	if ev.At.IsZero() {
		ev.At = q.now()
	}
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed || q.budget != nil && !q.budget.AllowN(ev.At, 1) {
		q.drop()
		return false
	}
	select {
	case q.events <- ev:
		return true
	default:
		q.drop()
		return false
	}
}

func (q *AuditQueue) drop() {
	q.unlogged.Add(1)
	if q.dropped.Add(1)%10000 == 1 {
		q.log.Warn("refusals beyond the audit budget are counted, not recorded", "dropped_total", q.dropped.Load())
	}
}

// Dropped is how many refusals were counted instead of recorded.
func (q *AuditQueue) Dropped() uint64 { return q.dropped.Load() }

// Written is how many refusals were recorded individually.
func (q *AuditQueue) Written() uint64 { return q.written.Load() }

// auditBatch is the most events written in one transaction.
const auditBatch = 512

// run writes what is queued, taking everything waiting (up to auditBatch) into one transaction,
// and once a second records how many refusals were counted but not recorded.
func (q *AuditQueue) run() {
	defer close(q.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	batch := make([]AuditEvent, 0, auditBatch)
	for {
		select {
		case ev, ok := <-q.events:
			if !ok {
				q.summarise()
				return
			}
			batch = append(batch[:0], ev)
		fill:
			for len(batch) < auditBatch {
				select {
				case more, ok := <-q.events:
					if !ok {
						break fill
					}
					batch = append(batch, more)
				default:
					break fill
				}
			}
			if q.write(batch) {
				q.written.Add(uint64(len(batch)))
			} else {
				// Not recorded: counted, and named in the next summary.
				q.dropped.Add(uint64(len(batch)))
				q.unlogged.Add(uint64(len(batch)))
			}
		case <-tick.C:
			q.summarise()
		}
	}
}

func (q *AuditQueue) write(batch []AuditEvent) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.store.RecordAudit(ctx, batch); err != nil {
		q.log.Error("record refused requests", "events", len(batch), "err", err)
		return false
	}
	return true
}

// summarise records one event saying how many refusals since the last one were not recorded.
func (q *AuditQueue) summarise() {
	n := q.unlogged.Swap(0)
	if n == 0 {
		return
	}
	ev := AuditEvent{ID: q.newID(), At: q.now(), Route: "*", Outcome: OutcomeRejected,
		Notes: []string{fmt.Sprintf("refusals-not-recorded:%d", n)}}
	if !q.write([]AuditEvent{ev}) {
		q.unlogged.Add(n)
	}
}

// Close stops taking events and writes what is queued, waiting at most until ctx ends.
func (q *AuditQueue) Close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.events)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
