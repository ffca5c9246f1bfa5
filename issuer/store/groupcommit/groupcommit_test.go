package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ledger is a commit function that records which items it made durable, in
// how many commits, and can be held to let callers pile up.
type ledger struct {
	mu      sync.Mutex
	durable map[int]bool
	commits int
	sizes   []int
	hold    chan struct{} // when set, each commit waits for a receive
	fail    map[int]error
}

func (l *ledger) commit(items []int) []error {
	if l.hold != nil {
		<-l.hold
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.commits++
	l.sizes = append(l.sizes, len(items))
	errs := make([]error, len(items))
	for i, v := range items {
		if err := l.fail[v]; err != nil {
			errs[i] = err
			continue
		}
		l.durable[v] = true
	}
	return errs
}

func (l *ledger) isDurable(v int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durable[v]
}

func TestConcurrentItemsShareCommits(t *testing.T) {
	l := &ledger{durable: map[int]bool{}, hold: make(chan struct{})}
	c := New(l.commit, Options{Committers: 1, MaxBatch: 64})
	defer c.Close()
	const n = 200
	var wg sync.WaitGroup
	var wrong atomic.Int32
	for i := range n {
		wg.Go(func() {
			if err := c.Do(context.Background(), i); err != nil {
				t.Errorf("Do(%d): %v", i, err)
				return
			}
			// The answer comes only after the commit holding the item returned.
			if !l.isDurable(i) {
				wrong.Add(1)
			}
		})
	}
	// Release commits one by one until every caller has its answer.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case l.hold <- struct{}{}:
			continue
		case <-done:
		}
		break
	}
	if wrong.Load() > 0 {
		t.Errorf("%d callers were answered before their item was durable", wrong.Load())
	}
	for i := range n {
		if !l.isDurable(i) {
			t.Errorf("item %d is not durable", i)
		}
	}
	if l.commits >= n/2 {
		t.Errorf("%d commits for %d concurrent items (sizes %v), want them shared", l.commits, n, l.sizes)
	}
	for _, s := range l.sizes {
		if s > 64 {
			t.Errorf("a batch of %d items exceeds MaxBatch 64", s)
		}
	}
}

func TestEachItemGetsItsOwnResult(t *testing.T) {
	l := &ledger{durable: map[int]bool{}, fail: map[int]error{}}
	for i := range 50 {
		if i%7 == 3 {
			l.fail[i] = fmt.Errorf("item %d refused", i)
		}
	}
	c := New(l.commit, Options{Committers: 2})
	defer c.Close()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			err := c.Do(context.Background(), i)
			if want := l.fail[i]; !errors.Is(err, want) || (want == nil && err != nil) {
				t.Errorf("Do(%d) = %v, want %v", i, err, want)
			}
		})
	}
	wg.Wait()
}

func TestCallerThatGivesUpBeforeItsCommitWritesNothing(t *testing.T) {
	l := &ledger{durable: map[int]bool{}, hold: make(chan struct{})}
	c := New(l.commit, Options{Committers: 1, MaxBatch: 1})
	defer c.Close()
	// Item 1 occupies the only committer; item 2 waits in the queue and its caller gives up.
	first := make(chan error, 1)
	go func() { first <- c.Do(context.Background(), 1) }()
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := c.Do(ctx, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do of an item whose caller gave up: %v, want the context's error", err)
	}
	l.hold <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// Nothing else is committed: the abandoned item is skipped.
	third := make(chan error, 1)
	go func() { third <- c.Do(context.Background(), 3) }()
	l.hold <- struct{}{}
	if err := <-third; err != nil {
		t.Fatal(err)
	}
	if l.isDurable(2) {
		t.Error("the abandoned item was committed")
	}
}

func TestClose(t *testing.T) {
	l := &ledger{durable: map[int]bool{}}
	c := New(l.commit, Options{})
	if err := c.Do(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if err := c.Do(context.Background(), 2); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v, want ErrClosed", err)
	}
}
