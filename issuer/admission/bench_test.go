package admission

import (
	"context"
	"sync"
	"testing"
	"time"
)

// The cost of admission itself. Figures and the command that made them are in docs/overload.md.

// BenchmarkAcquireRelease: one goroutine, a free slot every time.
func BenchmarkAcquireRelease(b *testing.B) {
	l := mustNew(b, Config{Limit: 64, Queue: 64, Wait: 100 * time.Millisecond})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tk, _, _ := l.Acquire(ctx)
		tk.Release()
	}
}

// BenchmarkAcquireReleaseParallel: every core admits and releases on one limiter with room for
// all of them; the cost of sharing the semaphore between cores.
func BenchmarkAcquireReleaseParallel(b *testing.B) {
	l := mustNew(b, Config{Limit: 4096, Queue: 64, Wait: 100 * time.Millisecond})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tk, reason, _ := l.Acquire(ctx)
			if tk == nil {
				b.Errorf("refused: %v", reason)
				return
			}
			tk.Release()
		}
	})
}

// BenchmarkAcquireReleaseSaturated: more goroutines than slots, so most admissions wait for a
// release and are handed the slot by it.
func BenchmarkAcquireReleaseSaturated(b *testing.B) {
	l := mustNew(b, Config{Limit: 2, Queue: 1 << 20, Wait: time.Minute})
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tk, reason, _ := l.Acquire(ctx)
			if tk == nil {
				b.Errorf("refused: %v", reason)
				return
			}
			tk.Release()
		}
	})
}

// BenchmarkRejectParallel: every slot held and no queue, so every call is a refusal with its
// Retry-After: the path a rush takes.
func BenchmarkRejectParallel(b *testing.B) {
	l := mustNew(b, Config{Limit: 1})
	held, _, _ := l.Acquire(context.Background())
	defer held.Release()
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if tk, _, _ := l.Acquire(ctx); tk != nil {
				b.Error("admitted past a held slot")
				return
			}
		}
	})
}

// BenchmarkMutexBaseline is the same parallel admit-and-release guarded by one mutex and a
// counter, for comparison with the channel semaphore.
func BenchmarkMutexBaseline(b *testing.B) {
	var mu sync.Mutex
	n, limit := 0, 4096
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			if n < limit {
				n++
			}
			mu.Unlock()
			mu.Lock()
			n--
			mu.Unlock()
		}
	})
}
