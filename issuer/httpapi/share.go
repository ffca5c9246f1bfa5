package httpapi

import (
	"sync"
	"time"
)

// shares bounds the issuance slots one credential holds at once, so that no provider (a sandbox
// integration in a loop, a vendor's runaway retry) can take every slot from the others. It counts
// held slots per principal; an entry lives only while its principal holds a slot, so its size is
// bounded by the admission limit.
type shares struct {
	max int

	mu   sync.Mutex
	held map[string]int
}

func newShares(max int) *shares {
	if max <= 0 {
		return nil
	}
	return &shares{max: max, held: map[string]int{}}
}

// take reserves one of principal's slots; false when it holds its share already.
func (s *shares) take(principal string) bool {
	if s == nil {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[principal] >= s.max {
		return false
	}
	s.held[principal]++
	return true
}

// give returns a slot taken with take.
func (s *shares) give(principal string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[principal] <= 1 {
		delete(s.held, principal)
		return
	}
	s.held[principal]--
}

// shareRetryAfter is the wait suggested to a credential that holds its share: its own requests
// in flight finish within about this long.
const shareRetryAfter = time.Second
