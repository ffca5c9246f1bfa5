package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/golang-migrate/migrate/v4"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx/v5", used by the migrator
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the database at databaseURL to the newest schema version. It is safe to run from
// several processes at once (the migrator holds a PostgreSQL advisory lock) and does nothing when
// the schema is current.
func Migrate(ctx context.Context, databaseURL string) error {
	db, err := sql.Open("pgx/v5", databaseURL)
	if err != nil {
		return fmt.Errorf("migrate: parse database url: %w", err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("migrate: connect: %w", unavailable(err))
	}
	driver, err := pgxmigrate.WithInstance(db, &pgxmigrate.Config{})
	if err != nil {
		return fmt.Errorf("migrate: prepare: %w", classify(err))
	}
	src, err := iofs.New(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: read embedded migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "postgres", driver)
	if err != nil {
		return fmt.Errorf("migrate: %w", classify(err))
	}
	stop := context.AfterFunc(ctx, func() {
		select {
		case m.GracefulStop <- true:
		default:
		}
	})
	defer stop()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		if ctx.Err() != nil {
			return fmt.Errorf("migrate: %w", errors.Join(ctx.Err(), err))
		}
		return fmt.Errorf("migrate: %w", classify(err))
	}
	return nil
}

// SchemaVersion is the newest migration version this build carries.
func SchemaVersion() (uint, error) {
	return latestVersion(migrations, "migrations")
}

func latestVersion(fsys fs.FS, dir string) (uint, error) {
	src, err := iofs.New(fsys, dir)
	if err != nil {
		return 0, fmt.Errorf("read embedded migrations: %w", err)
	}
	defer src.Close()
	v, err := src.First()
	if err != nil {
		return 0, fmt.Errorf("first embedded migration: %w", err)
	}
	for {
		next, err := src.Next(v)
		if errors.Is(err, os.ErrNotExist) {
			return v, nil
		}
		if err != nil {
			return 0, fmt.Errorf("next embedded migration after %d: %w", v, err)
		}
		v = next
	}
}
