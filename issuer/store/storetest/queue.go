package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer"
)

// testQueueSlots: places start at the later of the frontier and earliest, are interval apart,
// numbers continue across reservations and a reopened store, and a closed store is unavailable.
func testQueueSlots(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	const step = 2 * time.Millisecond
	t0 := base()
	a, err := s.ReserveQueueSlots(ctx(t), 3, t0, step)
	if err != nil {
		t.Fatalf("ReserveQueueSlots: %v", err)
	}
	if a.N != 3 || a.Interval != step || !a.Start.Equal(t0) || a.Start.Location() != time.UTC {
		t.Errorf("first block %+v, want 3 places from %s, %s apart, in UTC", a, t0, step)
	}
	// The frontier is ahead of earliest: the next block starts where the first ended.
	b, err := s.ReserveQueueSlots(ctx(t), 2, t0, step)
	if err != nil {
		t.Fatalf("ReserveQueueSlots: %v", err)
	}
	if b.First != a.First+3 || !b.Start.Equal(a.End()) {
		t.Errorf("second block %+v, want numbers from %d at %s", b, a.First+3, a.End())
	}
	// earliest beyond the frontier: the line was empty, the block starts at earliest.
	later := t0.Add(time.Minute)
	c, err := s.ReserveQueueSlots(ctx(t), 1, later, step)
	if err != nil {
		t.Fatalf("ReserveQueueSlots: %v", err)
	}
	if c.First != b.First+2 || !c.Start.Equal(later) {
		t.Errorf("third block %+v, want number %d at %s", c, b.First+2, later)
	}
	if _, err := s.ReserveQueueSlots(ctx(t), 0, later, step); err == nil {
		t.Error("ReserveQueueSlots of 0 places: no error")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.ReserveQueueSlots(ctx(t), 1, later, step); !errors.Is(err, issuer.ErrStoreUnavailable) {
		t.Errorf("ReserveQueueSlots on a closed store: error %v, want ErrStoreUnavailable", err)
	}

	// A restart continues the line: the next number, after the frontier.
	s = open(t)
	d, err := s.ReserveQueueSlots(ctx(t), 1, t0, step)
	if err != nil {
		t.Fatalf("ReserveQueueSlots after reopening: %v", err)
	}
	if d.First != c.First+1 || !d.Start.Equal(c.End()) {
		t.Errorf("block after reopening %+v, want number %d at %s", d, c.First+1, c.End())
	}
}

// testConcurrentQueueSlots: concurrent reservations never share a number or a time, and numbers
// and times rise together.
func testConcurrentQueueSlots(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	const workers, each, step = 8, 10, time.Millisecond
	var mu sync.Mutex
	var blocks []issuer.QueueBlock
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				b, err := s.ReserveQueueSlots(ctx(t), 1+w%3, base(), step)
				if err != nil {
					t.Errorf("ReserveQueueSlots: %v", err)
					return
				}
				mu.Lock()
				blocks = append(blocks, b)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	at := map[uint64]time.Time{}
	for _, b := range blocks {
		for i := range b.N {
			if _, dup := at[b.Number(i)]; dup {
				t.Fatalf("number %d reserved twice", b.Number(i))
			}
			at[b.Number(i)] = b.At(i)
		}
	}
	first := blocks[0].First
	for _, b := range blocks {
		first = min(first, b.First)
	}
	for n := first; n < first+uint64(len(at)); n++ {
		cur, ok := at[n]
		if !ok {
			t.Fatalf("number %d missing: numbers are not consecutive", n)
		}
		if prev, ok := at[n-1]; ok && !cur.Equal(prev.Add(step)) {
			t.Fatalf("number %d at %s, number %d at %s: want %s apart", n-1, prev, n, cur, step)
		}
	}
}
