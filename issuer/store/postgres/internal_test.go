package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sedcc/dcc/issuer/store/pgtest"
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
