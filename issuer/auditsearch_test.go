package issuer_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sedcc/dcc/fhir"
	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/embedded"
	"github.com/sedcc/dcc/registry/fileregister"
	"github.com/sedcc/dcc/signing/uvci"
	"github.com/sedcc/dcc/signing/valueset"
)

// readFailingStore cannot record searches (outcome read) and passes everything else through.
type readFailingStore struct{ issuer.Store }

func (r readFailingStore) Record(ctx context.Context, rec issuer.Record) error {
	if rec.Audit.Outcome == issuer.OutcomeRead {
		return errors.New("disk full")
	}
	return r.Store.Record(ctx, rec)
}

func auditService(t *testing.T, st issuer.Store, now *time.Time) *issuer.Service {
	t.Helper()
	reg, err := fileregister.Open("", *now)
	if err != nil {
		t.Fatal(err)
	}
	values := valueset.MustLoad()
	clock := func() time.Time { return *now }
	svc, err := issuer.New(issuer.Options{
		Store:           st,
		Audit:           st,
		Signers:         map[issuer.Environment]issuer.Signer{issuer.Sandbox: realSigner(t)},
		UVCIs:           uvci.Generator{Country: "SE", Prefix: "T"},
		Register:        reg,
		SandboxRegister: reg,
		Parser:          fhir.NewParser(fhir.Options{Now: clock, Values: values}),
		Values:          values,
		SubjectKey:      bytes.Repeat([]byte{1}, 32),
		Clock:           clock,
		NewID:           func() string { return uuid.Must(uuid.NewV7()).String() },
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestUnrecordedSearchGivesNothing: a search whose reading cannot be recorded is answered
// store-unavailable, without its results.
func TestUnrecordedSearchGivesNothing(t *testing.T) {
	ctx := context.Background()
	st, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Second)
	if err := st.Record(ctx, issuer.Record{Audit: issuer.AuditEvent{ID: "e1", At: now, RequestID: "r1", Outcome: issuer.OutcomeIssued}}); err != nil {
		t.Fatal(err)
	}
	support := issuer.Principal{ID: "s1", Role: issuer.RoleSupport}

	page, err := auditService(t, st, &now).SearchAudit(ctx, support, issuer.AuditSearch{Query: issuer.AuditQuery{RequestID: "r1"}})
	if err != nil || len(page.Events) != 1 {
		t.Fatalf("search: %d events, %v", len(page.Events), err)
	}
	page, err = auditService(t, readFailingStore{st}, &now).SearchAudit(ctx, support, issuer.AuditSearch{Query: issuer.AuditQuery{RequestID: "r1"}})
	probs, ok := problem.As(err)
	if !ok || !probs.Has(problem.CodeStoreUnavailable) || len(page.Events) != 0 {
		t.Fatalf("unrecorded search: %d events, %v", len(page.Events), err)
	}
}

// TestAuditRetention: events older than the retention go, newer ones stay; zero keeps all.
func TestAuditRetention(t *testing.T) {
	ctx := context.Background()
	st, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	for i, age := range []time.Duration{400 * 24 * time.Hour, 366 * 24 * time.Hour, 364 * 24 * time.Hour, time.Hour} {
		ev := issuer.AuditEvent{ID: "e" + string(rune('a'+i)), At: now.Add(-age), RequestID: "r", Outcome: issuer.OutcomeIssued}
		if err := st.Record(ctx, issuer.Record{Audit: ev}); err != nil {
			t.Fatal(err)
		}
	}
	svc := auditService(t, st, &now)

	done := make(chan struct{})
	go func() { svc.RunAuditRetention(ctx, time.Millisecond, 0); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunAuditRetention with retention 0 did not return")
	}

	n, err := svc.PurgeAudit(ctx, 365*24*time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("purged %d, %v; want 2", n, err)
	}
	page, err := st.SearchAudit(ctx, issuer.AuditQuery{})
	if err != nil || len(page.Events) != 2 || page.Events[1].ID != "ec" {
		t.Fatalf("left %+v, %v", page.Events, err)
	}
}
