// Package pgtest gives tests a real, throwaway PostgreSQL.
//
// If DATABASE_URL is set, its server is used. Otherwise a private server is started from Debian's
// PostgreSQL 15 binaries (/usr/lib/postgresql/15/bin, or PGTEST_BINDIR): initdb into a temporary
// directory with trust authentication, then postgres listening on a free port on 127.0.0.1 with
// its socket in that directory and fsync on. When the test binary runs as root, initdb and postgres
// run as the "postgres" user (or "nobody"), since PostgreSQL refuses to run as root.
//
// Use it from TestMain, which starts one server for the whole test binary and stops it at the end:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// and take a fresh, empty database per test with NewDatabase(t); it is dropped when the test ends.
// There is no skipping: if no server can be had, the tests fail with the reason.
//
// Programs outside `go test` (the fault suite, cmd/dccchaos) use Start, CreateDatabase and Stop,
// and Halt and Resume to stop the private server and start it again on the same port.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultBinDir is where Debian's postgresql-15 package installs the server binaries.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// Server is a PostgreSQL server that tests create databases on.
type Server struct {
	adminURL string    // connects to the maintenance database "postgres"
	local    *instance // nil when the server came from DATABASE_URL
}

// Start returns a server for tests: the one at DATABASE_URL when that is set, otherwise a
// private one started in a temporary directory. Stop it with Stop.
func Start(ctx context.Context) (*Server, error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		admin, err := withDatabase(u, "postgres")
		if err != nil {
			return nil, fmt.Errorf("pgtest: DATABASE_URL: %w", err)
		}
		if err := ping(ctx, admin); err != nil {
			return nil, fmt.Errorf("pgtest: DATABASE_URL is set but its server does not answer: %w", err)
		}
		return &Server{adminURL: admin}, nil
	}
	binDir := os.Getenv("PGTEST_BINDIR")
	if binDir == "" {
		binDir = DefaultBinDir
	}
	inst, err := startInstance(ctx, binDir)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	return &Server{adminURL: inst.url("postgres"), local: inst}, nil
}

// Stop stops a private server and removes its files; for DATABASE_URL it does nothing.
func (s *Server) Stop() error {
	if s.local == nil {
		return nil
	}
	return s.local.stop()
}

// NewDatabase creates an empty database with a random name and returns its URL. The database is
// dropped when the test ends.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name, err := s.createDatabase(ctx)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	dbURL, err := withDatabase(s.adminURL, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dbURL
}

func (s *Server) createDatabase(ctx context.Context) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("database name: %w", err)
	}
	name := "t_" + hex.EncodeToString(b[:])
	if err := s.exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return name, nil
}

func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.adminURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return err
	}
	return nil
}

// shared is the server of this test binary, started by Main. Package state is the price of the
// TestMain convention: Main and NewDatabase have no other way to meet.
var shared struct {
	mu  sync.Mutex
	srv *Server
}

// Main starts the test binary's server, runs the tests, stops the server and exits with the
// tests' status. Call it from TestMain. If the server cannot be started, every test fails: Main
// prints why (for example, that `make deps` installs PostgreSQL 15) and exits non-zero.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	srv, err := Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		fmt.Fprintln(os.Stderr, "FAIL: no PostgreSQL for the tests")
		return 1
	}
	shared.mu.Lock()
	shared.srv = srv
	shared.mu.Unlock()
	defer func() {
		if err := srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stop server:", err)
		}
	}()
	return m.Run()
}

// NewDatabase creates a fresh, empty database on the server started by Main and returns its URL;
// it is dropped when the test ends. Apply the schema with postgres.Migrate.
func NewDatabase(t testing.TB) string {
	t.Helper()
	shared.mu.Lock()
	srv := shared.srv
	shared.mu.Unlock()
	if srv == nil {
		t.Fatal("pgtest: no server: call pgtest.Main(m) from TestMain")
	}
	return srv.NewDatabase(t)
}

// withDatabase returns databaseURL with its database name replaced.
func withDatabase(databaseURL, name string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("want a postgres:// URL")
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

func ping(ctx context.Context, databaseURL string) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
