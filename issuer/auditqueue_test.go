package issuer_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/embedded"
)

// blockingStore holds every Record until released, as a store saturated by admitted work does.
type blockingStore struct {
	issuer.Store
	release chan struct{}
}

func (b *blockingStore) RecordAudit(ctx context.Context, evs []issuer.AuditEvent) error {
	<-b.release
	return b.Store.RecordAudit(ctx, evs)
}

// TestAuditQueueNeverBlocks: with the store stuck, adding never waits; beyond the bound events
// are dropped and counted; once the store moves, the queued events are written and Close flushes.
func TestAuditQueueNeverBlocks(t *testing.T) {
	st, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bs := &blockingStore{Store: st, release: make(chan struct{})}
	var n int
	var mu sync.Mutex
	q := issuer.NewAuditQueue(bs, nil, func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("ev-%04d", n)
	}, time.Now, 10)
	accepted := 0
	const offered = 1000 // more than one batch plus the queue
	for i := range offered {
		if q.Add(issuer.AuditEvent{RequestID: fmt.Sprintf("r-%d", i), Outcome: issuer.OutcomeRejected, Status: 503}) {
			accepted++
		}
	}
	// Ten wait in the queue; at most one batch is in the stuck writer's hands; the rest is dropped.
	if accepted < 10 || accepted > 10+512 || q.Dropped() != uint64(offered-accepted) {
		t.Fatalf("accepted %d, dropped %d", accepted, q.Dropped())
	}
	close(bs.release)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if q.Written() != uint64(accepted) {
		t.Fatalf("written %d, accepted %d", q.Written(), accepted)
	}
	stored := 0
	for cursor := ""; ; {
		page, err := st.SearchAudit(ctx, issuer.AuditQuery{Outcome: issuer.OutcomeRejected, Limit: 500, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		stored += len(page.Events)
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if stored != accepted {
		t.Fatalf("stored %d events, want %d", stored, accepted)
	}
	if q.Add(issuer.AuditEvent{RequestID: "late"}) {
		t.Fatal("an event was taken after Close")
	}
}
