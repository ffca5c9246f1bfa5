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
	}, time.Now, issuer.AuditQueueOptions{Size: 10})
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
		for _, ev := range page.Events {
			if ev.Route != "*" { // the summary of what was counted, not recorded
				stored++
			}
		}
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

// TestAuditQueueBudget: beyond its budget per second the queue counts refusals and records one
// summary event saying how many.
func TestAuditQueueBudget(t *testing.T) {
	st, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var n int
	q := issuer.NewAuditQueue(st, nil, func() string { n++; return fmt.Sprintf("ev-%04d", n) },
		func() time.Time { return now }, issuer.AuditQueueOptions{Size: 1000, PerSecond: 5})
	recorded := 0
	for i := range 100 {
		if q.Add(issuer.AuditEvent{RequestID: fmt.Sprintf("r-%d", i), Outcome: issuer.OutcomeRejected, Status: 503}) {
			recorded++
		}
	}
	if recorded != 5 || q.Dropped() != 95 {
		t.Fatalf("recorded %d, counted %d; want 5 and 95", recorded, q.Dropped())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Close(ctx); err != nil {
		t.Fatal(err)
	}
	page, err := st.SearchAudit(ctx, issuer.AuditQuery{Outcome: issuer.OutcomeRejected, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 6 {
		t.Fatalf("%d events stored, want 5 refusals and 1 summary", len(page.Events))
	}
	found := false
	for _, ev := range page.Events {
		for _, note := range ev.Notes {
			if note == "refusals-not-recorded:95" {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("no summary event: %+v", page.Events)
	}
}
