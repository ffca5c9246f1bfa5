package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sedcc/dcc/issuer"
)

// errConflict reports a unique violation that no issuer sentinel names (a reused UVCI, audit
// event id, principal or key); it carries the constraint name and no SQL text.
type errConflict struct{ constraint string }

func (e errConflict) Error() string { return "already exists (" + e.constraint + ")" }

// classify turns a driver error into one for callers: no rows become issuer.ErrNotFound,
// failures to reach or keep the server wrap issuer.ErrStoreUnavailable, a server-reported
// problem keeps its SQLSTATE code and message without the statement, and the caller's own
// cancellation stays context.Canceled.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return issuer.ErrNotFound
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505":
			return errConflict{constraint: pgErr.ConstraintName}
		case pgErr.Code == "23503":
			return fmt.Errorf("%w: referenced row missing (%s)", issuer.ErrNotFound, pgErr.ConstraintName)
		case unavailableCode(pgErr.Code):
			return fmt.Errorf("%w: server error %s", issuer.ErrStoreUnavailable, pgErr.Code)
		default:
			return fmt.Errorf("database error %s: %s", pgErr.Code, pgErr.Message)
		}
	}
	return unavailable(err)
}

// unavailable wraps a connection-level failure (refused, reset, timed out, pool closed).
func unavailable(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return fmt.Errorf("%w: timed out", issuer.ErrStoreUnavailable)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && !unavailableCode(pgErr.Code) {
		return fmt.Errorf("database error %s: %s", pgErr.Code, pgErr.Message)
	}
	return fmt.Errorf("%w: %s", issuer.ErrStoreUnavailable, connMessage(err))
}

// unavailableCode says whether a SQLSTATE means the server cannot serve now: connection
// exceptions (08), insufficient resources (53), operator intervention such as shutdown or a
// statement timeout (57), system errors (58), a lock not granted within lock_timeout (55P03)
// and a read-only standby (25006).
func unavailableCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"),
		strings.HasPrefix(code, "57"), strings.HasPrefix(code, "58"), code == "55P03", code == "25006":
		return true
	}
	return false
}

// connMessage describes a connection failure without the connection string.
func connMessage(err error) string {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return "cannot connect to server"
	}
	if strings.Contains(err.Error(), "closed pool") {
		return "store closed"
	}
	return err.Error()
}
