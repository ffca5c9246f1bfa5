package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sedcc/dcc/issuer"
)

// ReserveQueueSlots takes n places in the citizens' queue. Writes are serialised, so the read
// and the update of the one row cannot interleave with another writer.
func (s *Store) ReserveQueueSlots(ctx context.Context, n int, earliest time.Time, interval time.Duration) (issuer.QueueBlock, error) {
	if n < 1 || interval < time.Microsecond {
		return issuer.QueueBlock{}, fmt.Errorf("reserve %d queue places %s apart: want at least 1, at least 1µs apart", n, interval)
	}
	step := interval.Microseconds()
	var b issuer.QueueBlock
	err := s.write(ctx, func(tx *sql.Tx) error {
		var next, frontier int64
		if err := tx.QueryRowContext(ctx, `SELECT next_number, frontier_us FROM queue_frontier WHERE id = 1`).Scan(&next, &frontier); err != nil {
			return classify(err)
		}
		start := max(frontier, micros(earliest))
		if _, err := tx.ExecContext(ctx, `UPDATE queue_frontier SET next_number = ?, frontier_us = ? WHERE id = 1`,
			next+int64(n), start+int64(n)*step); err != nil {
			return classify(err)
		}
		b = issuer.QueueBlock{First: uint64(next), N: n, Start: fromMicros(start), Interval: time.Duration(step) * time.Microsecond}
		return nil
	})
	if err != nil {
		return issuer.QueueBlock{}, fmt.Errorf("reserve %d queue places: %w", n, err)
	}
	return b, nil
}
