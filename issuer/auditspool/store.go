package auditspool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sedcc/dcc/issuer"
)

// replayBatch is the most spooled events written to the store in one transaction.
const replayBatch = 256

// Store wraps an issuer.Store so that audit events the store cannot take are spooled instead of
// lost. It applies to audit-only writes, the events of refused and failed requests (Record with
// neither certificate nor request record, and RecordAudit): when the store answers
// ErrStoreUnavailable they are appended to the spool and the write succeeds, durable on local
// disk. While the spool holds events, new audit-only writes go behind them without trying the
// store, so that they reach the store in the order they came. Run hands them to the store once it
// answers again. Every other call goes to the store unchanged.
//
// Once a call through the wrapper has failed as unavailable, audit-only writes go to the spool
// without trying the store until a write succeeds again: a request refused because the store did
// not answer within its timeout must not wait that timeout a second time for its audit event.
type Store struct {
	issuer.Store
	spool *Spool
	log   *slog.Logger
	now   func() time.Time
	newID func() string

	down atomic.Bool // the last call through the wrapper found the store unavailable

	// reported is how many drops were already written to the store as a summary event.
	reported uint64
}

// Options are the wrapper's dependencies.
type Options struct {
	Log   *slog.Logger
	Clock func() time.Time
	// NewID returns ids for the summary event naming dropped events.
	NewID func() string
}

// Wrap returns st with its audit-only writes spooled through sp during outages.
func Wrap(st issuer.Store, sp *Spool, o Options) *Store {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Store{Store: st, spool: sp, log: o.Log, now: o.Clock, newID: o.NewID}
}

// Record writes r; an audit-only record the store cannot take is spooled.
func (s *Store) Record(ctx context.Context, r issuer.Record) error {
	if r.Certificate != nil || r.Request != nil {
		return s.observe(s.Store.Record(ctx, r))
	}
	return s.audit(ctx, []issuer.AuditEvent{r.Audit}, func() error { return s.Store.Record(ctx, r) })
}

// RecordAudit writes events; events the store cannot take are spooled.
func (s *Store) RecordAudit(ctx context.Context, events []issuer.AuditEvent) error {
	return s.audit(ctx, events, func() error { return s.Store.RecordAudit(ctx, events) })
}

// CertificateByIdentifier is the store's, watched for outages.
func (s *Store) CertificateByIdentifier(ctx context.Context, providerID, identifier string) (issuer.Certificate, error) {
	c, err := s.Store.CertificateByIdentifier(ctx, providerID, identifier)
	return c, s.observe(err)
}

// Request is the store's, watched for outages.
func (s *Store) Request(ctx context.Context, principalID, requestID string) (issuer.RequestRecord, error) {
	r, err := s.Store.Request(ctx, principalID, requestID)
	return r, s.observe(err)
}

// observe notes whether the store answered.
func (s *Store) observe(err error) error {
	switch {
	case err == nil, errors.Is(err, issuer.ErrNotFound), errors.Is(err, issuer.ErrIdentifierTaken), errors.Is(err, issuer.ErrRequestIDTaken):
		s.down.Store(false)
	case errors.Is(err, issuer.ErrStoreUnavailable):
		s.down.Store(true)
	}
	return err
}

func (s *Store) audit(ctx context.Context, events []issuer.AuditEvent, write func() error) error {
	if s.spool.Pending() > 0 || s.down.Load() {
		// Behind those already waiting, so that the store receives them in order.
		if err := s.spool.Append(events); err != nil {
			return fmt.Errorf("%w: %w", issuer.ErrStoreUnavailable, err)
		}
		return nil
	}
	err := s.observe(write())
	if err == nil || !errors.Is(err, issuer.ErrStoreUnavailable) {
		return err
	}
	if sErr := s.spool.Append(events); sErr != nil {
		s.log.ErrorContext(ctx, "audit events neither stored nor spooled", "events", len(events), "err", sErr)
		return fmt.Errorf("%w (spool: %w)", err, sErr)
	}
	return nil
}

// Run replays the spool into the store every interval until ctx ends, and once more at the end
// (bounded by the store's own timeouts).
func (s *Store) Run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		s.Replay(context.WithoutCancel(ctx))
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Replay hands the spooled events to the store in order, a batch per transaction, until the
// spool is empty or the store fails. It returns how many events the store took.
func (s *Store) Replay(ctx context.Context) int {
	total := 0
	for s.spool.Pending() > 0 {
		events, end, err := s.spool.Peek(replayBatch)
		if err != nil {
			s.log.Error("read audit spool", "err", err)
			return total
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = s.Store.RecordAudit(wctx, events)
		cancel()
		if err != nil && !errors.Is(err, issuer.ErrStoreUnavailable) {
			// Most likely events taken by an earlier replay whose position was not yet saved
			// (a crash between the commit and the position): write them one by one, skipping
			// those the store refuses.
			err = s.oneByOne(ctx, events)
		}
		if s.observe(err) != nil {
			return total
		}
		if err := s.spool.Commit(end, len(events)); err != nil {
			s.log.Error("advance audit spool", "err", err)
			return total
		}
		total += len(events)
	}
	if total > 0 {
		s.log.Info("audit events replayed from the spool", "events", total)
	}
	s.summariseDrops(ctx)
	return total
}

func (s *Store) oneByOne(ctx context.Context, events []issuer.AuditEvent) error {
	for _, ev := range events {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.Store.RecordAudit(wctx, []issuer.AuditEvent{ev})
		cancel()
		if errors.Is(err, issuer.ErrStoreUnavailable) {
			return err
		}
		if err != nil {
			s.log.Warn("spooled audit event refused by the store; skipped", "event", ev.ID, "err", err)
		}
	}
	return nil
}

// summariseDrops writes one audit event naming how many events the spool had to drop since the
// last summary, so that the audit log says where it has a gap.
func (s *Store) summariseDrops(ctx context.Context) {
	dropped := s.spool.Stats().Dropped
	if dropped <= s.reported || s.newID == nil {
		return
	}
	n := dropped - s.reported
	ev := issuer.AuditEvent{ID: s.newID(), At: s.now(), Route: "*", Outcome: issuer.OutcomeFailed,
		Notes: []string{fmt.Sprintf("audit-events-not-spooled:%d", n)}}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Store.RecordAudit(wctx, []issuer.AuditEvent{ev}); err != nil {
		return
	}
	s.reported = dropped
	s.log.Warn("audit events were dropped at the spool's bound", "dropped", n)
}
