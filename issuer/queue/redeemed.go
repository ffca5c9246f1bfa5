package queue

import (
	"sync"
	"time"
)

// redeemed remembers which ticket numbers were redeemed on this replica, one bit a number:
// numbers are consecutive, so 64 of them share a word. A word is forgotten once every ticket it
// could hold is past its grace, which bounds the memory by the numbers issued within about one
// grace period (a megabit, 128 KiB, holds a million).
type redeemed struct {
	mu    sync.Mutex
	words map[uint64]word
	marks int
}

type word struct {
	bits uint64
	// touched is the last time a number of the word was redeemed. Every number redeemed at t had
	// its admission time at or before t, so once touched is more than a grace ago, any ticket the
	// word could hold has expired and the word can go.
	touched time.Time
}

// mark records number as redeemed at now; false when it was already.
func (r *redeemed) mark(number uint64, now time.Time, grace time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, bit := number/64, uint64(1)<<(number%64)
	w := r.words[k]
	if w.bits&bit != 0 {
		return false
	}
	w.bits |= bit
	w.touched = now
	r.words[k] = w
	r.marks++
	if r.marks%1024 == 0 {
		for key, old := range r.words {
			if now.Sub(old.touched) > grace+time.Minute {
				delete(r.words, key)
			}
		}
	}
	return true
}

// size is the number of words kept.
func (r *redeemed) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.words)
}
