package httpapi

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func docOf(n int) *documents {
	return &documents{json: newRepresentation(bytes.Repeat([]byte{'j'}, n)), pdf: newRepresentation(bytes.Repeat([]byte{'p'}, n))}
}

// TestDocCacheBoundedByBytes: the cache never holds more than its byte limit, evicting the least
// recently used first.
func TestDocCacheBoundedByBytes(t *testing.T) {
	one := docOf(10_000).size()
	c := newDocCache(5 * one)
	for i := range 20 {
		c.add(fmt.Sprint(i), docOf(10_000))
		if got := c.bytes.Load(); got > c.limit {
			t.Fatalf("after %d adds the cache holds %d bytes, limit %d", i+1, got, c.limit)
		}
		c.get("0") // keep "0" recently used
	}
	if _, ok := c.get("0"); !ok {
		t.Fatal("the most recently used entry was evicted")
	}
	if _, ok := c.get("1"); ok {
		t.Fatal("an old entry survived")
	}
	if n := c.lru.Len(); n != 5 {
		t.Fatalf("%d entries, want 5", n)
	}
	// Replacing an entry keeps the count exact.
	c.add("0", docOf(10_000))
	if got := c.bytes.Load(); got != 5*one {
		t.Fatalf("after a replacement %d bytes, want %d", got, 5*one)
	}
	// An entry larger than the whole cache is not kept.
	c.add("huge", docOf(int(c.limit)))
	if _, ok := c.get("huge"); ok {
		t.Fatal("an entry over the limit was kept")
	}
}

// TestDocCacheRendersOnce: concurrent misses for one UVCI render it once.
func TestDocCacheRendersOnce(t *testing.T) {
	c := newDocCache(0)
	var renders atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			d, err := c.load("u", func() (*documents, error) {
				renders.Add(1)
				<-release
				return docOf(100), nil
			})
			if err != nil || d == nil {
				t.Error(err)
			}
		})
	}
	close(release)
	wg.Wait()
	if _, err := c.load("u", func() (*documents, error) { renders.Add(1); return docOf(1), nil }); err != nil {
		t.Fatal(err)
	}
	if n := renders.Load(); n != 1 {
		t.Fatalf("rendered %d times, want once", n)
	}
}
