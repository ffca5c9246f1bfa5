// Package embedded is the zero-set-up issuer.Store: one SQLite file (pure Go, no cgo) under a
// data directory, used when no PostgreSQL database is configured.
//
// Durability: the file is in WAL mode with synchronous=FULL, so every commit fsyncs the
// write-ahead log before Record returns and an acknowledged Record survives a killed process
// or a power cut. Writes go through one connection, one transaction at a time (BEGIN IMMEDIATE);
// reads use a separate pool of read-only connections that WAL lets run beside the writer.
// Another process on the same file (dccctl next to a running dccd) waits up to BusyTimeout for
// the write lock before the call fails with issuer.ErrStoreUnavailable.
//
// Times are kept as microseconds since the epoch (as PostgreSQL keeps them) and come back in UTC.
// The schema is applied by Open from the embedded migrations/ (golang-migrate, sqlite driver).
package embedded

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-migrate/migrate/v4"
	sqlitemigrate "github.com/golang-migrate/migrate/v4/database/sqlite"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/groupcommit"
)

// FileName is the database file inside the data directory.
const FileName = "dcc.db"

// BusyTimeout is how long a statement waits for a lock held by another process.
const BusyTimeout = 5 * time.Second

//go:embed migrations/*.sql
var migrations embed.FS

// Store is an issuer.Store in a SQLite file. It is safe for concurrent use.
type Store struct {
	path   string
	writer *sql.DB // one connection: writes are serialised
	reader *sql.DB // read-only connections
	group  *groupcommit.Committer[recordItem]
	// stmts are the writer's statements of every Record, prepared once (SQLite's parser would
	// otherwise take a tenth of the writer's processor time).
	stmts     *writeStmts
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ issuer.Store = (*Store)(nil)

// Open opens (creating if needed) the store in dir/dcc.db and brings its schema up to date.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open embedded store: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("open embedded store: %w", err)
	}
	if err := migrateFile(path); err != nil {
		return nil, fmt.Errorf("open embedded store %s: %w", path, err)
	}

	writer, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("open embedded store %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	reader, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open embedded store %s: %w", path, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)

	stmts, err := prepareWrites(writer)
	if err != nil {
		reader.Close()
		writer.Close()
		return nil, fmt.Errorf("open embedded store %s: %w", path, err)
	}
	s := &Store{path: path, writer: writer, reader: reader, stmts: stmts}
	// One committer: the file has one writer connection.
	s.group = groupcommit.New(s.commitRecords, groupcommit.Options{Committers: 1, MaxBatch: 128})
	if err := s.Ping(context.Background()); err != nil {
		s.Close()
		return nil, fmt.Errorf("open embedded store %s: %w", path, err)
	}
	return s, nil
}

// dsn returns the driver's connection string. Every connection sets the busy timeout and
// enforces foreign keys; the writer also sets WAL mode (kept in the file) and synchronous=FULL
// (a per-connection setting), and begins its transactions IMMEDIATE so that it takes the write
// lock up front instead of failing to upgrade a read lock.
func dsn(path string, readOnly bool) string {
	d := path + "?_pragma=busy_timeout(" + fmt.Sprint(BusyTimeout.Milliseconds()) + ")&_pragma=foreign_keys(1)"
	if readOnly {
		return d + "&_pragma=query_only(1)"
	}
	return d + "&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
}

// migrateFile applies the embedded migrations to the file at path.
func migrateFile(path string) error {
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	db.SetMaxOpenConns(1)
	driver, err := sqlitemigrate.WithInstance(db, &sqlitemigrate.Config{})
	if err != nil {
		db.Close()
		return fmt.Errorf("migrate: prepare: %w", classify(err))
	}
	src, err := iofs.New(migrations, "migrations")
	if err != nil {
		db.Close()
		return fmt.Errorf("migrate: read embedded migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "sqlite", driver)
	if err != nil {
		db.Close()
		return fmt.Errorf("migrate: %w", err)
	}
	upErr := m.Up()
	srcErr, dbErr := m.Close() // closes db as well
	if upErr != nil && !errors.Is(upErr, migrate.ErrNoChange) {
		return fmt.Errorf("migrate: %w", classify(upErr))
	}
	if err := errors.Join(srcErr, dbErr); err != nil {
		return fmt.Errorf("migrate: close: %w", err)
	}
	return nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Ping checks that the file can be read.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("ping embedded store: %w", errClosed)
	}
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("ping embedded store: %w", classify(err))
	}
	return nil
}

// Close closes the file. Later calls fail with issuer.ErrStoreUnavailable.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.group.Close()
		s.closeErr = errors.Join(s.stmts.close(), s.reader.Close(), s.writer.Close())
	})
	return s.closeErr
}

var errClosed = fmt.Errorf("%w: store closed", issuer.ErrStoreUnavailable)

// errConflict reports a unique violation no issuer sentinel names (a reused UVCI, audit event id,
// principal or key).
var errConflict = errors.New("already exists")

// classify turns a driver error into one for callers: no rows become issuer.ErrNotFound, a
// missing referenced row wraps it too, and failures to use the file (locked past the busy
// timeout, I/O errors, disk full, closed) wrap issuer.ErrStoreUnavailable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return issuer.ErrNotFound
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: timed out", issuer.ErrStoreUnavailable)
	}
	if errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("%w: connection closed", issuer.ErrStoreUnavailable)
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch code := se.Code(); {
	case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return errConflict
	case code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: referenced row missing", issuer.ErrNotFound)
	default:
		switch code & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY,
			sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("%w: sqlite error %d", issuer.ErrStoreUnavailable, code)
		}
		return fmt.Errorf("sqlite error %d: %s", code, se.Error())
	}
}

// createPrivate creates the database file readable by its owner only, before SQLite would create
// it with the process umask (SQLite gives its -wal and -shm files the database file's mode). An
// existing file open to others is narrowed to 0600: it holds keyed personnummer hashes and
// certificates.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("narrow %s to mode 0600: %w", path, err)
		}
	}
	return nil
}
