package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/pgtest"
	"github.com/sedcc/dcc/issuer/store/storetest"
)

// The store's sessions commit synchronously even where the database default says otherwise.
func TestSessionsCommitSynchronously(t *testing.T) {
	url := pgtest.NewDatabase(t)
	if err := Migrate(t.Context(), url); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var db string
	if err := admin.QueryRow(t.Context(), `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(t.Context(), fmt.Sprintf(`ALTER DATABASE %s SET synchronous_commit = off`, pgx.Identifier{db}.Sanitize())); err != nil {
		t.Fatal(err)
	}

	s, err := Open(t.Context(), url, Options{MaxConns: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 3 { // more than one pooled connection
		var setting string
		if err := s.pool.QueryRow(t.Context(), `SELECT current_setting('synchronous_commit')`).Scan(&setting); err != nil {
			t.Fatal(err)
		}
		if setting != "on" {
			t.Errorf("store session synchronous_commit = %s, want on", setting)
		}
	}
	// A new session of another client does get the database default: the store's setting is its own.
	other, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	var def string
	if err := other.QueryRow(t.Context(), `SELECT current_setting('synchronous_commit')`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	if def != "off" {
		t.Fatalf("database default synchronous_commit = %s after ALTER DATABASE, want off", def)
	}
}

// A group commit whose Records meet a taken identifier, a taken request id and a taken audit
// event id answers those three alone and commits the others together in one transaction; nothing
// of the refused Records is written.
func TestGroupCommitAnswersEachRecord(t *testing.T) {
	url := pgtest.NewDatabase(t)
	if err := Migrate(t.Context(), url); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), url, Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Record(t.Context(), storetest.SampleRecord("taken")); err != nil {
		t.Fatal(err)
	}
	sameIdentifier := storetest.SampleRecord("taken")
	sameIdentifier.Certificate.UVCI, sameIdentifier.Audit.ID = "URN:UVCI:01:SE:BENCH/other#K", "ev-other"
	sameIdentifier.Request.RequestID, sameIdentifier.Certificate.RequestID = "req-other", "req-other"
	sameEvent := storetest.SampleRecord("g3")
	sameEvent.Audit.ID = "ev-g1" // the first Record's, in the same batch
	sameRequest := storetest.SampleRecord("g4")
	sameRequest.Request.RequestID = "req-taken"
	rs := []issuer.Record{storetest.SampleRecord("g1"), sameIdentifier, storetest.SampleRecord("g2"), sameEvent,
		sameRequest, storetest.SampleRecord("g5")}

	ps := make([]pendingRecord, len(rs))
	for i, r := range rs {
		ps[i] = pendingRecord{rec: r, deadline: time.Now().Add(time.Minute)}
	}
	errs := s.commitRecords(ps)
	if len(errs) != len(rs) {
		t.Fatalf("%d results for %d Records", len(errs), len(rs))
	}
	for _, i := range []int{0, 2, 5} {
		if errs[i] != nil {
			t.Errorf("Record %d: %v, want nil", i, errs[i])
		}
	}
	if !errors.Is(errs[1], issuer.ErrIdentifierTaken) {
		t.Errorf("Record of a taken identifier: %v, want ErrIdentifierTaken", errs[1])
	}
	if errs[3] == nil || errors.Is(errs[3], issuer.ErrIdentifierTaken) || errors.Is(errs[3], issuer.ErrRequestIDTaken) {
		t.Errorf("Record of a taken audit event id: %v, want a failure naming neither sentinel", errs[3])
	}
	if !errors.Is(errs[4], issuer.ErrRequestIDTaken) {
		t.Errorf("Record of a taken request id: %v, want ErrRequestIDTaken", errs[4])
	}

	var rows, txs int
	err = s.pool.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT xmin::text) FROM certificates
		WHERE identifier IN ('g1', 'g2', 'g5')`).Scan(&rows, &txs)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 3 || txs != 1 {
		t.Errorf("the three good Records: %d certificates in %d transactions, want 3 in 1", rows, txs)
	}
	var refused int
	err = s.pool.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM certificates WHERE identifier IN ('g3', 'g4') OR uvci = 'URN:UVCI:01:SE:BENCH/other#K') +
		(SELECT count(*) FROM request_records WHERE request_id IN ('req-other', 'req-g3', 'req-g4')) +
		(SELECT count(*) FROM audit_events WHERE id IN ('ev-other', 'ev-g4'))`).Scan(&refused)
	if err != nil {
		t.Fatal(err)
	}
	if refused != 0 {
		t.Errorf("%d rows of the refused Records written, want none", refused)
	}
}
