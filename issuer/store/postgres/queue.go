package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/sedcc/dcc/issuer"
)

// ReserveQueueSlots takes n places in the citizens' queue in one statement: the row lock makes
// concurrent reservations by any replica follow one another.
func (s *Store) ReserveQueueSlots(ctx context.Context, n int, earliest time.Time, interval time.Duration) (issuer.QueueBlock, error) {
	if n < 1 || interval < time.Microsecond {
		return issuer.QueueBlock{}, fmt.Errorf("reserve %d queue places %s apart: want at least 1, at least 1µs apart", n, interval)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	step := interval.Microseconds()
	var first, start int64
	err := s.pool.QueryRow(ctx, `UPDATE queue_frontier
		SET next_number = next_number + $1::bigint,
		    frontier_us = GREATEST(frontier_us, $2::bigint) + $1::bigint * $3::bigint
		WHERE id = 1
		RETURNING next_number - $1::bigint, frontier_us - $1::bigint * $3::bigint`,
		int64(n), earliest.UnixMicro(), step).Scan(&first, &start)
	if err != nil {
		return issuer.QueueBlock{}, fmt.Errorf("reserve %d queue places: %w", n, classify(err))
	}
	return issuer.QueueBlock{First: uint64(first), N: n, Start: time.UnixMicro(start).UTC(), Interval: time.Duration(step) * time.Microsecond}, nil
}
