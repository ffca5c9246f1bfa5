package postgres_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/pgtest"
	"github.com/sedcc/dcc/issuer/store/postgres"
	"github.com/sedcc/dcc/issuer/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// migratedDatabase returns the URL of a fresh database with the schema applied.
func migratedDatabase(t testing.TB) string {
	t.Helper()
	url := pgtest.NewDatabase(t)
	if err := postgres.Migrate(context.Background(), url); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return url
}

func openStore(t testing.TB, url string, opts postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, storetest.Reopenable(
		func(t *testing.T) string { return migratedDatabase(t) },
		func(t *testing.T, url string) issuer.Store { return openStore(t, url, postgres.Options{MaxConns: 8}) },
	))
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	url := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = postgres.Migrate(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate %d: %v", i, err)
		}
	}
	if err := postgres.Migrate(t.Context(), url); err != nil {
		t.Fatalf("Migrate of a current schema: %v", err)
	}
	want, err := postgres.SchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var version int64
	var dirty bool
	if err := conn.QueryRow(t.Context(), `SELECT version, dirty FROM schema_migrations`).Scan(&version, &dirty); err != nil {
		t.Fatal(err)
	}
	if version != int64(want) || dirty {
		t.Errorf("schema version %d (dirty %v), want %d", version, dirty, want)
	}
	// The tables later features rely on exist.
	for _, table := range []string{"certificates", "audit_events", "request_records", "principals", "api_keys", "revocations", "status_incidents"} {
		var exists bool
		if err := conn.QueryRow(t.Context(), `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if !exists {
			t.Errorf("table %s missing after Migrate", table)
		}
	}
	openStore(t, url, postgres.Options{})
}

func TestOpenRefusesUnmigratedDatabase(t *testing.T) {
	url := pgtest.NewDatabase(t)
	s, err := postgres.Open(t.Context(), url, postgres.Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a database without the schema")
	}
	if !strings.Contains(err.Error(), "dccctl migrate") {
		t.Errorf("error %q does not say to run dccctl migrate", err)
	}
}

func TestUnreachableServerIsUnavailable(t *testing.T) {
	// Port 1 on loopback: nothing listens there, so the connection is refused at once.
	url := "postgres://postgres:secret-password@127.0.0.1:1/dcc?sslmode=disable&connect_timeout=2"
	_, err := postgres.Open(t.Context(), url, postgres.Options{Timeout: 2 * time.Second})
	if !errors.Is(err, issuer.ErrStoreUnavailable) {
		t.Errorf("Open: error %v, want ErrStoreUnavailable", err)
	}
	if err != nil && strings.Contains(err.Error(), "secret-password") {
		t.Errorf("error reveals the password: %v", err)
	}
	err = postgres.Migrate(t.Context(), url)
	if !errors.Is(err, issuer.ErrStoreUnavailable) {
		t.Errorf("Migrate: error %v, want ErrStoreUnavailable", err)
	}
	if err != nil && strings.Contains(err.Error(), "secret-password") {
		t.Errorf("error reveals the password: %v", err)
	}
}

// lockTable holds an exclusive lock on the table from another connection until the test ends
// or the returned transaction is rolled back: every statement that touches it waits, as it
// would for a database that stopped answering.
func lockTable(t *testing.T, url, table string) pgx.Tx {
	t.Helper()
	locker, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { locker.Close(context.Background()) })
	tx, err := locker.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	if _, err := tx.Exec(t.Context(), `LOCK TABLE `+table+` IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	return tx
}

func TestBlockedOperationTimesOutAsUnavailable(t *testing.T) {
	url := migratedDatabase(t)
	s := openStore(t, url, postgres.Options{Timeout: 300 * time.Millisecond})

	tx := lockTable(t, url, "certificates")

	_, err := s.CertificateByUVCI(t.Context(), "URN:UVCI:01:SE:X")
	if !errors.Is(err, issuer.ErrStoreUnavailable) {
		t.Errorf("read of a locked table: error %v, want ErrStoreUnavailable", err)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CertificateByUVCI(t.Context(), "URN:UVCI:01:SE:X"); !errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("after the lock is released: error %v, want ErrNotFound", err)
	}
}

// TestQueuedRecordGetsOneTimeout: a Record queued behind a commit that hangs (its table locked,
// as a database that stopped answering holds it) fails as unavailable within the store's timeout
// counted from its own call, not after the hanging commit's timeout and then one of its own.
func TestQueuedRecordGetsOneTimeout(t *testing.T) {
	const timeout = time.Second
	url := migratedDatabase(t)
	s := openStore(t, url, postgres.Options{Timeout: timeout, GroupCommitters: 1})

	lockTable(t, url, "audit_events")

	first := make(chan error, 1)
	go func() { first <- s.Record(context.Background(), storetest.SampleRecord("queued-first")) }()
	// The first Record's commit now holds the one committer, waiting for the lock.
	time.Sleep(timeout / 2)
	began := time.Now()
	err := s.Record(context.Background(), storetest.SampleRecord("queued-second"))
	took := time.Since(began)
	if !errors.Is(err, issuer.ErrStoreUnavailable) {
		t.Errorf("queued Record: error %v, want ErrStoreUnavailable", err)
	}
	// Its own timeout is 1 s; behind the first commit's timeout it would have taken 1.5 s.
	if took > timeout+timeout/3 {
		t.Errorf("queued Record returned after %s; the store timeout is %s", took.Round(time.Millisecond), timeout)
	}
	if err := <-first; !errors.Is(err, issuer.ErrStoreUnavailable) {
		t.Errorf("hanging Record: error %v, want ErrStoreUnavailable", err)
	}
}

// BenchmarkRecord measures durable Records (certificate, request record and audit event in one
// synchronously committed transaction) from parallel callers. Beside time, it reports the
// processor time per Record of this process (go-cpu-µs/op) and of the PostgreSQL server
// (pg-cpu-µs/op): on a machine where the database shares the cores, both bound throughput.
func BenchmarkRecord(b *testing.B) {
	url := migratedDatabase(b)
	s := openStore(b, url, postgres.Options{})
	pgBefore, err := pgtest.ServerCPU(b.Context(), url)
	if err != nil {
		b.Fatal(err)
	}
	goBefore := storetest.SelfCPU(b)
	storetest.BenchmarkRecord(b, s)
	goAfter := storetest.SelfCPU(b)
	pgAfter, err := pgtest.ServerCPU(b.Context(), url)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64((goAfter-goBefore).Microseconds())/float64(b.N), "go-cpu-µs/op")
	b.ReportMetric(float64((pgAfter-pgBefore).Microseconds())/float64(b.N), "pg-cpu-µs/op")
}

// TestConcurrentRecordsShareCommits: concurrent Records are committed in fewer transactions than
// Records (group commit; a row's xmin names the transaction that wrote it), and every one of
// them is there once Record has returned.
func TestConcurrentRecordsShareCommits(t *testing.T) {
	url := migratedDatabase(t)
	s := openStore(t, url, postgres.Options{MaxConns: 8, GroupCommitters: 1})
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := "gc-" + strconv.Itoa(i)
			if err := s.Record(t.Context(), storetest.SampleRecord(id)); err != nil {
				t.Errorf("Record %s: %v", id, err)
				return
			}
			if _, err := s.CertificateByIdentifier(t.Context(), "prov-bench", id); err != nil {
				t.Errorf("certificate %s after Record returned: %v", id, err)
			}
		})
	}
	wg.Wait()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var rows, txs int
	err = conn.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT xmin::text) FROM certificates
		WHERE provider_id = 'prov-bench'`).Scan(&rows, &txs)
	if err != nil {
		t.Fatal(err)
	}
	if rows != n {
		t.Fatalf("%d certificates, want %d", rows, n)
	}
	if txs >= n/2 {
		t.Errorf("%d Records in %d transactions: not grouped", n, txs)
	}
	t.Logf("%d concurrent Records in %d transactions", n, txs)
}
