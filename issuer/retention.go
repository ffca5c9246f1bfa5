package issuer

import (
	"context"
	"time"
)

// PurgeRequests forgets request ids older than the retention: their replays are no longer
// recognised after it (docs/storage.md). It returns how many were forgotten.
func (s *Service) PurgeRequests(ctx context.Context, retention time.Duration) (int64, error) {
	return s.store.PurgeRequests(ctx, s.now().Add(-retention))
}

// RunRetention purges request records every interval until ctx ends.
func (s *Service) RunRetention(ctx context.Context, every, retention time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.PurgeRequests(ctx, retention)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.WarnContext(ctx, "purge request records", "err", err)
		case n > 0:
			s.log.InfoContext(ctx, "request records purged", "count", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PurgeAudit deletes audit events older than the retention, returning how many. The store
// deletes in small batches, so issuance is not held up while a large backlog goes.
func (s *Service) PurgeAudit(ctx context.Context, retention time.Duration) (int64, error) {
	return s.store.PurgeAudit(ctx, s.now().Add(-retention))
}

// RunAuditRetention purges audit events older than retention every interval until ctx ends;
// a retention of zero or less keeps every event and returns at once.
func (s *Service) RunAuditRetention(ctx context.Context, every, retention time.Duration) {
	if retention <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.PurgeAudit(ctx, retention)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.WarnContext(ctx, "purge audit events", "err", err)
		case n > 0:
			s.log.InfoContext(ctx, "audit events purged", "count", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
