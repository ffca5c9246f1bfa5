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
