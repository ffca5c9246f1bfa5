// Package groupcommit shares one durable commit among concurrent writers: a
// caller hands its item to a collector and waits; a committer takes every item
// waiting at that moment (up to a bound) and commits them together, then
// answers each caller with its own item's result. While one commit is being
// made durable, the next batch gathers, so the number of commits a second
// follows the storage's commit latency, not the number of callers, and no
// caller waits on a timer.
package groupcommit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned for items handed in after Close, or still waiting when it was called.
var ErrClosed = errors.New("group commit closed")

// CommitFunc commits items in as few durable transactions as it can and
// returns one result per item, in order: nil when the item is durable, or why
// it is not. It must return only once every nil result is durable.
type CommitFunc[T any] func(items []T) []error

// Options tunes a Committer. The zero value gives one committer and batches of
// up to 128 items.
type Options struct {
	// Committers is how many batches may be committed at once (at least 1).
	Committers int
	// MaxBatch bounds the items of one batch (at least 1).
	MaxBatch int
}

type item[T any] struct {
	v    T
	done chan error
	// taken is set by the committer that takes the item, or by the caller
	// that gives up on it first; whoever sets it decides.
	taken atomic.Bool
}

// Committer collects items and commits them in batches.
type Committer[T any] struct {
	commit   CommitFunc[T]
	maxBatch int
	queue    chan *item[T]
	quit     chan struct{}
	wg       sync.WaitGroup
	close    sync.Once
	pool     sync.Pool
}

// New starts the committers.
func New[T any](commit CommitFunc[T], opts Options) *Committer[T] {
	if opts.Committers < 1 {
		opts.Committers = 1
	}
	if opts.MaxBatch < 1 {
		opts.MaxBatch = 128
	}
	c := &Committer[T]{
		commit:   commit,
		maxBatch: opts.MaxBatch,
		queue:    make(chan *item[T], 4*opts.MaxBatch),
		quit:     make(chan struct{}),
	}
	c.pool.New = func() any { return &item[T]{done: make(chan error, 1)} }
	for range opts.Committers {
		c.wg.Go(c.run)
	}
	return c
}

// Do hands v to a committer and returns its result once it is durable or has
// failed. A caller whose ctx ends while v still waits for a committer gets
// ctx's error and v is not written; once a committer has taken v, Do waits for
// the commit (which the commit function bounds in time), so that a nil result
// always means durable and an error never hides a write.
func (c *Committer[T]) Do(ctx context.Context, v T) error {
	select {
	case <-c.quit:
		return ErrClosed
	default:
	}
	it := c.pool.Get().(*item[T])
	it.v = v
	it.taken.Store(false)
	select {
	case c.queue <- it:
	case <-c.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-it.done:
		c.release(it)
		return err
	case <-ctx.Done():
		return c.abandon(it, ctx.Err())
	case <-c.quit:
		return c.abandon(it, ErrClosed)
	}
}

// abandon gives up on an item no committer has taken yet, answering err; an
// item already taken is waited for.
func (c *Committer[T]) abandon(it *item[T], err error) error {
	if it.taken.CompareAndSwap(false, true) {
		// The committers skip it; it is not reused, since it may still sit
		// in the queue.
		return err
	}
	err = <-it.done
	c.release(it)
	return err
}

func (c *Committer[T]) release(it *item[T]) {
	var zero T
	it.v = zero
	c.pool.Put(it)
}

// Close stops the committers after the batches in progress; items still
// queued are answered ErrClosed. It waits for the committers to stop.
func (c *Committer[T]) Close() {
	c.close.Do(func() { close(c.quit) })
	c.wg.Wait()
	for {
		select {
		case it := <-c.queue:
			if it.taken.CompareAndSwap(false, true) {
				it.done <- ErrClosed
			}
		default:
			return
		}
	}
}

func (c *Committer[T]) run() {
	batch := make([]*item[T], 0, c.maxBatch)
	values := make([]T, 0, c.maxBatch)
	for {
		batch, values = batch[:0], values[:0]
		select {
		case it := <-c.queue:
			batch = c.take(batch, it)
		case <-c.quit:
			return
		}
	gather:
		for len(batch) < c.maxBatch {
			select {
			case it := <-c.queue:
				batch = c.take(batch, it)
			default:
				break gather
			}
		}
		if len(batch) == 0 {
			continue
		}
		for _, it := range batch {
			values = append(values, it.v)
		}
		errs := c.commit(values)
		for i, it := range batch {
			var err error
			if i < len(errs) {
				err = errs[i]
			} else {
				err = errors.New("group commit: no result for the item")
			}
			it.done <- err
		}
		clear(values)
	}
}

// take adds it to the batch unless its caller has given up on it.
func (c *Committer[T]) take(batch []*item[T], it *item[T]) []*item[T] {
	if !it.taken.CompareAndSwap(false, true) {
		return batch
	}
	return append(batch, it)
}
