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

func (b *blockingStore) Record(ctx context.Context, r issuer.Record) error {
	<-b.release
	return b.Store.Record(ctx, r)
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
	for i := range 100 {
		if q.Add(issuer.AuditEvent{RequestID: fmt.Sprintf("r-%d", i), Outcome: issuer.OutcomeRejected, Status: 503}) {
			accepted++
		}
	}
	// One event may be in the writer's hands, ten in the queue.
	if accepted < 10 || accepted > 11 || q.Dropped() != uint64(100-accepted) {
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
	page, err := st.SearchAudit(ctx, issuer.AuditQuery{Outcome: issuer.OutcomeRejected, Limit: 500})
	if err != nil || len(page.Events) != accepted {
		t.Fatalf("stored %d events (%v), want %d", len(page.Events), err, accepted)
	}
	if q.Add(issuer.AuditEvent{RequestID: "late"}) {
		t.Fatal("an event was taken after Close")
	}
}
