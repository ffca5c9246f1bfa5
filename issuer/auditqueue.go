package issuer

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// AuditQueue records the audit events of requests refused before any work (no credential, rate
// limit, overload) off the request path. Answering a refusal must not wait for the store: under
// a rush those refusals come by the thousand, and waiting on the store that the admitted work is
// using would turn "try again later" into a slow answer. The queue is bounded; when it is full an
// event is dropped and counted, never blocked on.
type AuditQueue struct {
	store   Store
	log     *slog.Logger
	newID   func() string
	now     func() time.Time
	events  chan AuditEvent
	dropped atomic.Uint64
	written atomic.Uint64
	done    chan struct{}

	mu     sync.RWMutex // held for reading while sending, for writing while closing
	closed bool
}

// NewAuditQueue starts the writer. size bounds the events waiting to be written.
func NewAuditQueue(store Store, log *slog.Logger, newID func() string, now func() time.Time, size int) *AuditQueue {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	q := &AuditQueue{store: store, log: log, newID: newID, now: now, events: make(chan AuditEvent, size), done: make(chan struct{})}
	go q.run()
	return q
}

// Add queues ev without blocking; it reports false when the queue was full and ev was dropped.
func (q *AuditQueue) Add(ev AuditEvent) bool {
	if ev.ID == "" {
		ev.ID = q.newID()
	}
	if ev.At.IsZero() {
		ev.At = q.now()
	}
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		q.dropped.Add(1)
		return false
	}
	select {
	case q.events <- ev:
		return true
	default:
		if q.dropped.Add(1)%1000 == 1 {
			q.log.Warn("audit queue full: refused requests are being counted, not recorded", "dropped_total", q.dropped.Load())
		}
		return false
	}
}

// Dropped is how many events were dropped because the queue was full.
func (q *AuditQueue) Dropped() uint64 { return q.dropped.Load() }

// Written is how many events were written.
func (q *AuditQueue) Written() uint64 { return q.written.Load() }

// auditBatch is the most events written in one transaction.
const auditBatch = 512

// run writes what is queued, taking everything waiting (up to auditBatch) into one transaction.
func (q *AuditQueue) run() {
	defer close(q.done)
	batch := make([]AuditEvent, 0, auditBatch)
	for ev := range q.events {
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
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := q.store.RecordAudit(ctx, batch)
		cancel()
		if err != nil {
			q.log.Error("record refused requests", "events", len(batch), "err", err)
			continue
		}
		q.written.Add(uint64(len(batch)))
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
