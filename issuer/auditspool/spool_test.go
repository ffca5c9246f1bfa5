package auditspool_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/auditspool"
	"github.com/sedcc/dcc/issuer/status"
	"github.com/sedcc/dcc/issuer/store/embedded"
)

// switchable is a real embedded store whose audit writes fail as unavailable while down is set,
// as PostgreSQL's do when the database is unreachable.
type switchable struct {
	issuer.Store
	down atomic.Bool
}

func (s *switchable) Record(ctx context.Context, r issuer.Record) error {
	if s.down.Load() {
		return fmt.Errorf("%w: connection refused", issuer.ErrStoreUnavailable)
	}
	return s.Store.Record(ctx, r)
}

func (s *switchable) RecordAudit(ctx context.Context, evs []issuer.AuditEvent) error {
	if s.down.Load() {
		return fmt.Errorf("%w: connection refused", issuer.ErrStoreUnavailable)
	}
	return s.Store.RecordAudit(ctx, evs)
}

func newStore(t *testing.T) *switchable {
	t.Helper()
	st, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &switchable{Store: st}
}

var base = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

func event(i int) issuer.AuditEvent {
	return issuer.AuditEvent{ID: fmt.Sprintf("ev-%05d", i), At: base.Add(time.Duration(i) * time.Millisecond),
		RequestID: fmt.Sprintf("req-%d", i), Route: "POST /observation", Status: 503, Outcome: issuer.OutcomeFailed,
		Codes: []string{"store-unavailable"}, SubjectMasked: "19121212****", SubjectKey: []byte{1, 2, 3}, Latency: time.Millisecond}
}

// stored returns the audit events in the store, oldest first.
func stored(t *testing.T, st issuer.Store) []issuer.AuditEvent {
	t.Helper()
	var all []issuer.AuditEvent
	q := issuer.AuditQuery{Limit: 500}
	for {
		page, err := st.SearchAudit(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Events...)
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
}

// TestOutageKeepsEveryEvent: audit-only writes during an outage are spooled, survive a restart
// of the process (reopening the spool), and reach the store in order once it is back; writes
// that come while events wait go behind them even when the store already answers.
func TestOutageKeepsEveryEvent(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	dir := t.TempDir()
	sp, err := auditspool.Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := auditspool.Wrap(st, sp, auditspool.Options{NewID: func() string { return "summary" }})

	if err := w.Record(ctx, issuer.Record{Audit: event(0)}); err != nil {
		t.Fatal(err)
	}
	st.down.Store(true)
	for i := 1; i <= 100; i++ {
		if err := w.Record(ctx, issuer.Record{Audit: event(i)}); err != nil {
			t.Fatalf("audit-only record during the outage: %v", err)
		}
	}
	if err := w.RecordAudit(ctx, []issuer.AuditEvent{event(101), event(102)}); err != nil {
		t.Fatal(err)
	}
	// A certificate write is not the spool's: it fails as before.
	if err := w.Record(ctx, issuer.Record{Audit: event(999), Certificate: &issuer.Certificate{UVCI: "x"}}); !errors.Is(err, issuer.ErrStoreUnavailable) {
		t.Fatalf("certificate write during the outage: %v", err)
	}
	if n := w.Replay(ctx); n != 0 {
		t.Fatalf("replayed %d into a store that is down", n)
	}
	if got := sp.Stats(); got.Pending != 102 || got.Spooled != 102 {
		t.Fatalf("stats during the outage: %+v", got)
	}
	if l, _ := sp.Probe()(ctx); l != status.Yellow {
		t.Fatalf("light while events wait: %s", l)
	}

	// The process dies: the spool is reopened from disk.
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	sp, err = auditspool.Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	w = auditspool.Wrap(st, sp, auditspool.Options{})
	if sp.Pending() != 102 {
		t.Fatalf("pending after reopening: %d", sp.Pending())
	}

	st.down.Store(false)
	// Written while events wait: goes behind them, not ahead.
	if err := w.Record(ctx, issuer.Record{Audit: event(103)}); err != nil {
		t.Fatal(err)
	}
	if n := w.Replay(ctx); n != 103 {
		t.Fatalf("replayed %d, want 103", n)
	}
	got := stored(t, st)
	if len(got) != 104 {
		t.Fatalf("%d events in the store, want 104", len(got))
	}
	for i, ev := range got {
		if ev.ID != event(i).ID || ev.SubjectMasked != "19121212****" || !ev.At.Equal(event(i).At) || ev.Codes[0] != "store-unavailable" {
			t.Fatalf("event %d is %+v", i, ev)
		}
	}
	if l, _ := sp.Probe()(ctx); l != status.Green {
		t.Fatalf("light once empty: %s", l)
	}
	if fi, err := os.Stat(filepath.Join(dir, auditspool.DataFile)); err != nil || fi.Size() != 0 {
		t.Fatalf("spool file after the replay: %v %v", fi, err)
	}
}

// TestTornTail: a record cut in the middle by a crash is dropped at open; those before it stay.
func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	sp, err := auditspool.Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Append([]issuer.AuditEvent{event(1), event(2)}); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	path := filepath.Join(dir, auditspool.DataFile)
	fi, _ := os.Stat(path)
	if err := os.Truncate(path, fi.Size()-5); err != nil {
		t.Fatal(err)
	}
	sp, err = auditspool.Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	evs, _, err := sp.Peek(10)
	if err != nil || len(evs) != 1 || evs[0].ID != event(1).ID {
		t.Fatalf("after a torn tail: %v %v", evs, err)
	}
	if err := sp.Append([]issuer.AuditEvent{event(3)}); err != nil {
		t.Fatal(err)
	}
	if evs, _, err = sp.Peek(10); err != nil || len(evs) != 2 || evs[1].ID != event(3).ID {
		t.Fatalf("append after the cut: %v %v", evs, err)
	}
}

// TestBound: at the bound events are refused and counted, the light turns red, and after the
// replay one summary event in the store names how many were dropped.
func TestBound(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	sp, err := auditspool.Open(t.TempDir(), 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	w := auditspool.Wrap(st, sp, auditspool.Options{NewID: func() string { return "zz-summary" }, Clock: func() time.Time { return base.Add(time.Hour) }})
	st.down.Store(true)
	kept, refused := 0, 0
	for i := range 100 {
		if err := w.Record(ctx, issuer.Record{Audit: event(i)}); err != nil {
			if !errors.Is(err, issuer.ErrStoreUnavailable) {
				t.Fatalf("refusal at the bound: %v", err)
			}
			refused++
			continue
		}
		kept++
	}
	s := sp.Stats()
	if refused == 0 || kept == 0 || s.Dropped != uint64(refused) || s.Pending != kept || !s.Full || s.Bytes > 4096 {
		t.Fatalf("kept %d refused %d stats %+v", kept, refused, s)
	}
	if l, _ := sp.Probe()(ctx); l != status.Red {
		t.Fatalf("light when full: %s", l)
	}
	st.down.Store(false)
	if n := w.Replay(ctx); n != kept {
		t.Fatalf("replayed %d, want %d", n, kept)
	}
	got := stored(t, st)
	if len(got) != kept+1 {
		t.Fatalf("%d events stored, want %d and a summary", len(got), kept)
	}
	last := got[len(got)-1]
	if last.ID != "zz-summary" || len(last.Notes) != 1 || last.Notes[0] != fmt.Sprintf("audit-events-not-spooled:%d", refused) {
		t.Fatalf("summary %+v", last)
	}
}

// TestReplayAfterLostPosition: events the store took before the position was saved are not
// written twice and do not block the rest.
func TestReplayAfterLostPosition(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	dir := t.TempDir()
	sp, err := auditspool.Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if err := sp.Append([]issuer.AuditEvent{event(1), event(2), event(3)}); err != nil {
		t.Fatal(err)
	}
	// The store already has event 1 and 2 (taken by a replay that died before Commit).
	if err := st.RecordAudit(ctx, []issuer.AuditEvent{event(1), event(2)}); err != nil {
		t.Fatal(err)
	}
	w := auditspool.Wrap(st, sp, auditspool.Options{})
	if n := w.Replay(ctx); n != 3 {
		t.Fatalf("replayed %d", n)
	}
	if got := stored(t, st); len(got) != 3 {
		t.Fatalf("%d events stored", len(got))
	}
}

// countingStore counts the audit writes that reach the store.
type countingStore struct {
	*switchable
	auditWrites int
}

func (c *countingStore) Record(ctx context.Context, r issuer.Record) error {
	if r.Certificate == nil && r.Request == nil {
		c.auditWrites++
	}
	return c.switchable.Record(ctx, r)
}

// TestNoSecondWait: once a certificate write has failed as unavailable, the request's audit
// event goes to the spool without trying the store (which would make the refusal wait the store
// timeout twice); a successful write ends that.
func TestNoSecondWait(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{switchable: newStore(t)}
	sp, err := auditspool.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	w := auditspool.Wrap(st, sp, auditspool.Options{})
	st.down.Store(true)
	if err := w.Record(ctx, issuer.Record{Audit: event(1), Certificate: &issuer.Certificate{UVCI: "x"}}); !errors.Is(err, issuer.ErrStoreUnavailable) {
		t.Fatal(err)
	}
	if err := w.Record(ctx, issuer.Record{Audit: event(2)}); err != nil {
		t.Fatal(err)
	}
	if st.auditWrites != 0 || sp.Pending() != 1 {
		t.Fatalf("audit writes tried %d, pending %d", st.auditWrites, sp.Pending())
	}
	st.down.Store(false)
	if n := w.Replay(ctx); n != 1 {
		t.Fatalf("replayed %d", n)
	}
	if err := w.Record(ctx, issuer.Record{Audit: event(3)}); err != nil {
		t.Fatal(err)
	}
	if st.auditWrites != 1 || sp.Pending() != 0 {
		t.Fatalf("after recovery: audit writes %d, pending %d", st.auditWrites, sp.Pending())
	}
}
