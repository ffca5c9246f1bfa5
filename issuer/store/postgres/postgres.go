// Package postgres is the production issuer.Store on PostgreSQL (pgx connection pool).
//
// Every connection sets synchronous_commit=on when it starts, so a commit returns only once the
// server has flushed it to its write-ahead log, whatever the database or role default says.
// Record writes its certificate, request record and audit event in one transaction. Errors keep
// SQL out of their text: a taken identifier or request id comes back as issuer.ErrIdentifierTaken
// or issuer.ErrRequestIDTaken, a missing row as issuer.ErrNotFound, and a failure to reach the
// server (refused, reset, timed out, shutting down) wraps issuer.ErrStoreUnavailable.
//
// The schema lives in migrations/ as numbered SQL files, embedded in the binary and applied by
// Migrate (golang-migrate with its pgx/v5 driver). Open refuses a database whose schema is older
// than this build's, naming the command that fixes it.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/groupcommit"
)

// DefaultTimeout bounds one store operation when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options tunes the store. The zero value is a good default.
type Options struct {
	// MaxConns caps the connection pool; 0 keeps pgxpool's default (the greater of 4 and the CPU count).
	MaxConns int32
	// Timeout bounds each operation (and each statement, server side) when the caller's context
	// has no earlier deadline; 0 means DefaultTimeout. An operation that runs out of time returns
	// an error wrapping issuer.ErrStoreUnavailable.
	Timeout time.Duration
	// GroupCommitters is how many group commits of Records may run at once; 0 means 2. Records
	// handed in while a commit is in progress wait for the next one and share it.
	GroupCommitters int
}

// Store is an issuer.Store backed by PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool      *pgxpool.Pool
	timeout   time.Duration
	group     *groupcommit.Committer[pendingRecord]
	closeOnce sync.Once
	// schemaReady gates every connection the pool hands out: false until the schema is known to be
	// current (at once for Open, after the background migration for Start).
	schemaReady atomic.Bool
	migrated    chan struct{}
}

var _ issuer.Store = (*Store)(nil)

// Open connects to the database at databaseURL (a postgres:// URL or a key=value string) and
// checks that its schema is at least this build's SchemaVersion; run Migrate first.
func Open(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	s, err := open(ctx, databaseURL, opts, false)
	if err != nil {
		return nil, err
	}
	if err := s.checkSchema(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	return s, nil
}

// open builds the pool without touching the server (pgxpool connects lazily). With pending set,
// connections are refused with errSchemaPending until schemaReady is set.
func open(ctx context.Context, databaseURL string, opts Options, pending bool) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgx masks the password in its parse errors.
		return nil, fmt.Errorf("open postgres store: parse database url: %w", err)
	}
	return openPool(ctx, cfg, opts, pending)
}

// openPool applies the store's session settings to cfg and builds the pool (see open).
func openPool(ctx context.Context, cfg *pgxpool.Config, opts Options, pending bool) (*Store, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	rp := cfg.ConnConfig.RuntimeParams
	rp["synchronous_commit"] = "on"
	// The server's statement_timeout is a second longer than the client's deadline, so that a
	// COMMIT waiting for a synchronous standby is always ended by the client (an error: nothing
	// is acknowledged). Ended by the server, the wait would end with a warning and the COMMIT
	// would report success though the transaction is on one node only.
	rp["statement_timeout"] = fmt.Sprint((timeout + time.Second).Milliseconds())
	rp["lock_timeout"] = fmt.Sprint(timeout.Milliseconds())
	rp["TimeZone"] = "UTC"
	if rp["application_name"] == "" {
		rp["application_name"] = "dcc"
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > timeout {
		cfg.ConnConfig.ConnectTimeout = timeout
	}

	s := &Store{timeout: timeout, migrated: make(chan struct{})}
	if pending {
		cfg.PrepareConn = func(context.Context, *pgx.Conn) (bool, error) {
			if !s.schemaReady.Load() {
				return true, errSchemaPending
			}
			return true, nil
		}
	} else {
		s.schemaReady.Store(true)
		close(s.migrated)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", unavailable(err))
	}
	s.pool = pool
	committers := opts.GroupCommitters
	if committers <= 0 {
		committers = 2
	}
	s.group = groupcommit.New(s.commitRecords, groupcommit.Options{Committers: committers, MaxBatch: 128})
	return s, nil
}

func (s *Store) checkSchema(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	want, err := SchemaVersion()
	if err != nil {
		return err
	}
	var version int64
	var dirty bool
	err = s.pool.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations LIMIT 1`).Scan(&version, &dirty)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42P01", errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("database has no schema: run `dccctl migrate`")
	case err != nil:
		return fmt.Errorf("read schema version: %w", classify(err))
	case dirty:
		return fmt.Errorf("schema version %d is dirty (a migration failed half-way): repair it and run `dccctl migrate`", version)
	case version < int64(want):
		return fmt.Errorf("schema version %d is older than %d: run `dccctl migrate`", version, want)
	}
	return nil
}

// bound applies the store's timeout to ctx.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Ping checks that the server answers a query.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping postgres: %w", classify(err))
	}
	return nil
}

// Close releases the pool's connections. Later calls fail with issuer.ErrStoreUnavailable.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.group.Close()
		s.pool.Close()
	})
	return nil
}
