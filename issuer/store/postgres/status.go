package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sedcc/dcc/issuer"
)

const statusColumns = `id, kind, dependency, title, body, opened_at, updated_at, closed_at, until`

// oneOpenIncident is the unique index that allows one open incident per dependency.
const oneOpenIncident = "status_incidents_one_open_idx"

// OpenIncident stores a new open incident; issuer.ErrIncidentOpen when the dependency has one.
func (s *Store) OpenIncident(ctx context.Context, e issuer.StatusEvent) error {
	e.Kind, e.ClosedAt = issuer.StatusIncident, nil
	if err := s.insertStatusEvent(ctx, e); err != nil {
		return fmt.Errorf("open incident %s for %q: %w", e.ID, e.Dependency, err)
	}
	return nil
}

// PostNotice stores a new notice.
func (s *Store) PostNotice(ctx context.Context, e issuer.StatusEvent) error {
	e.Kind = issuer.StatusNotice
	if err := s.insertStatusEvent(ctx, e); err != nil {
		return fmt.Errorf("post notice %s: %w", e.ID, err)
	}
	return nil
}

func (s *Store) insertStatusEvent(ctx context.Context, e issuer.StatusEvent) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if e.UpdatedAt.IsZero() {
		e.UpdatedAt = e.OpenedAt
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO status_incidents (`+statusColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		e.ID, e.Kind, e.Dependency, e.Title, e.Body, e.OpenedAt, e.UpdatedAt, e.ClosedAt, e.Until)
	err = classify(err)
	if c, ok := errors.AsType[errConflict](err); ok && c.constraint == oneOpenIncident {
		return issuer.ErrIncidentOpen
	}
	return err
}

// OpenIncidentFor returns the open incident of a dependency.
func (s *Store) OpenIncidentFor(ctx context.Context, dependency string) (issuer.StatusEvent, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+statusColumns+` FROM status_incidents
		WHERE dependency = $1 AND kind = 'incident' AND closed_at IS NULL`, dependency)
	e, err := collectOne(rows, err, scanStatusEvent)
	if err != nil {
		return issuer.StatusEvent{}, fmt.Errorf("open incident for %q: %w", dependency, classify(err))
	}
	return e, nil
}

// CloseStatusEvent closes an incident or notice; closing it again keeps the first time.
func (s *Store) CloseStatusEvent(ctx context.Context, id string, at time.Time) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE status_incidents
		SET closed_at = COALESCE(closed_at, $2), updated_at = CASE WHEN closed_at IS NULL THEN $2 ELSE updated_at END
		WHERE id = $1`, id, at)
	if err != nil {
		return fmt.Errorf("close status event %s: %w", id, classify(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("close status event %s: %w", id, issuer.ErrNotFound)
	}
	return nil
}

// StatusEvents lists the events not closed or ended before since, newest first.
func (s *Store) StatusEvents(ctx context.Context, since time.Time, limit int) ([]issuer.StatusEvent, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+statusColumns+` FROM status_incidents
		WHERE (closed_at IS NULL OR closed_at >= $1) AND (until IS NULL OR until >= $1)
		ORDER BY opened_at DESC, id DESC LIMIT $2`, since, issuer.StatusEventsLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("status events since %s: %w", since.UTC().Format(time.RFC3339), classify(err))
	}
	list, err := pgx.CollectRows(rows, scanStatusEvent)
	if err != nil {
		return nil, fmt.Errorf("status events since %s: %w", since.UTC().Format(time.RFC3339), classify(err))
	}
	return list, nil
}

func scanStatusEvent(row pgx.CollectableRow) (issuer.StatusEvent, error) {
	var e issuer.StatusEvent
	if err := row.Scan(&e.ID, &e.Kind, &e.Dependency, &e.Title, &e.Body, &e.OpenedAt, &e.UpdatedAt, &e.ClosedAt, &e.Until); err != nil {
		return issuer.StatusEvent{}, err
	}
	e.OpenedAt, e.UpdatedAt = e.OpenedAt.UTC(), e.UpdatedAt.UTC()
	e.ClosedAt, e.Until = utcPtr(e.ClosedAt), utcPtr(e.Until)
	return e, nil
}
