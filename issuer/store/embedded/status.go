package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sedcc/dcc/issuer"
)

const statusColumns = `id, kind, dependency, title, body, opened_at, updated_at, closed_at, until`

// OpenIncident stores a new open incident; issuer.ErrIncidentOpen when the dependency has one.
// Writes are serialised, so the check and the insert cannot interleave with another writer.
func (s *Store) OpenIncident(ctx context.Context, e issuer.StatusEvent) error {
	e.Kind, e.ClosedAt = issuer.StatusIncident, nil
	err := s.write(ctx, func(tx *sql.Tx) error {
		var open int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM status_incidents
			WHERE dependency = ? AND kind = 'incident' AND closed_at IS NULL`, e.Dependency).Scan(&open)
		if err != nil {
			return classify(err)
		}
		if open > 0 {
			return issuer.ErrIncidentOpen
		}
		return insertStatusEvent(ctx, tx, e)
	})
	if err != nil {
		return fmt.Errorf("open incident %s for %q: %w", e.ID, e.Dependency, err)
	}
	return nil
}

// PostNotice stores a new notice.
func (s *Store) PostNotice(ctx context.Context, e issuer.StatusEvent) error {
	e.Kind = issuer.StatusNotice
	err := s.write(ctx, func(tx *sql.Tx) error { return insertStatusEvent(ctx, tx, e) })
	if err != nil {
		return fmt.Errorf("post notice %s: %w", e.ID, err)
	}
	return nil
}

func insertStatusEvent(ctx context.Context, tx *sql.Tx, e issuer.StatusEvent) error {
	if e.UpdatedAt.IsZero() {
		e.UpdatedAt = e.OpenedAt
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO status_incidents (`+statusColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Kind, e.Dependency, e.Title, e.Body, micros(e.OpenedAt), micros(e.UpdatedAt), microsPtr(e.ClosedAt), microsPtr(e.Until))
	return classify(err)
}

// OpenIncidentFor returns the open incident of a dependency.
func (s *Store) OpenIncidentFor(ctx context.Context, dependency string) (issuer.StatusEvent, error) {
	if s.closed.Load() {
		return issuer.StatusEvent{}, fmt.Errorf("open incident for %q: %w", dependency, errClosed)
	}
	e, err := scanStatusEvent(s.reader.QueryRowContext(ctx, `SELECT `+statusColumns+` FROM status_incidents
		WHERE dependency = ? AND kind = 'incident' AND closed_at IS NULL`, dependency))
	if err != nil {
		return issuer.StatusEvent{}, fmt.Errorf("open incident for %q: %w", dependency, err)
	}
	return e, nil
}

// CloseStatusEvent closes an incident or notice; closing it again keeps the first time.
func (s *Store) CloseStatusEvent(ctx context.Context, id string, at time.Time) error {
	err := s.updateOne(ctx, `UPDATE status_incidents
		SET updated_at = CASE WHEN closed_at IS NULL THEN ? ELSE updated_at END, closed_at = COALESCE(closed_at, ?)
		WHERE id = ?`, micros(at), micros(at), id)
	if err != nil {
		return fmt.Errorf("close status event %s: %w", id, err)
	}
	return nil
}

// StatusEvents lists the events not closed or ended before since, newest first.
func (s *Store) StatusEvents(ctx context.Context, since time.Time, limit int) ([]issuer.StatusEvent, error) {
	what := "status events since " + since.UTC().Format(time.RFC3339)
	list, err := queryAll(ctx, s, scanStatusEvent, `SELECT `+statusColumns+` FROM status_incidents
		WHERE (closed_at IS NULL OR closed_at >= ?) AND (until IS NULL OR until >= ?)
		ORDER BY opened_at DESC, id DESC LIMIT ?`, micros(since), micros(since), issuer.StatusEventsLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return list, nil
}

func scanStatusEvent(row scanner) (issuer.StatusEvent, error) {
	var e issuer.StatusEvent
	var opened, updated int64
	var closed, until sql.NullInt64
	if err := row.Scan(&e.ID, &e.Kind, &e.Dependency, &e.Title, &e.Body, &opened, &updated, &closed, &until); err != nil {
		return issuer.StatusEvent{}, classify(err)
	}
	e.OpenedAt, e.UpdatedAt = fromMicros(opened), fromMicros(updated)
	e.ClosedAt, e.Until = timePtr(closed), timePtr(until)
	return e, nil
}
