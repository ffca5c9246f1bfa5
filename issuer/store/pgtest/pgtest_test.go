package pgtest

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestNewDatabaseIsFreshAndDroppedAtCleanup(t *testing.T) {
	ctx := context.Background()
	var first, second string
	t.Run("create", func(t *testing.T) {
		first, second = NewDatabase(t), NewDatabase(t)
		if first == second {
			t.Fatalf("two databases share the URL %s", first)
		}
		conn, err := pgx.Connect(ctx, first)
		if err != nil {
			t.Fatalf("connect to new database: %v", err)
		}
		defer conn.Close(ctx)
		var tables int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("new database has %d tables, want 0", tables)
		}
		var fsync, syncCommit string
		if err := conn.QueryRow(ctx, `SELECT current_setting('fsync'), current_setting('synchronous_commit')`).Scan(&fsync, &syncCommit); err != nil {
			t.Fatal(err)
		}
		if fsync != "on" || syncCommit != "on" {
			t.Errorf("fsync=%s synchronous_commit=%s, want both on", fsync, syncCommit)
		}
	})

	shared.mu.Lock()
	admin := shared.srv.adminURL
	shared.mu.Unlock()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, u := range []string{first, second} {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(parsed.Path, "/")
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("database %s still exists after its test ended", name)
		}
	}
}

func TestWithDatabase(t *testing.T) {
	got, err := withDatabase("postgres://u:p@h:5432/app?sslmode=disable", "t_1")
	if err != nil {
		t.Fatal(err)
	}
	if want := "postgres://u:p@h:5432/t_1?sslmode=disable"; got != want {
		t.Errorf("withDatabase = %s, want %s", got, want)
	}
	if _, err := withDatabase("host=h dbname=app", "t_1"); err == nil {
		t.Error("withDatabase accepted a key=value string")
	}
}

// ServerCPU counts the server's processes: a query that keeps a backend busy shows in it.
func TestServerCPUCountsTheBackends(t *testing.T) {
	db := NewDatabase(t)
	before, err := ServerCPU(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM generate_series(1, 5000000)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	after, err := ServerCPU(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 20*time.Millisecond {
		t.Errorf("server CPU grew by %v over a query of 5 million rows, want at least 20ms", after-before)
	}
}
