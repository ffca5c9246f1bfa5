package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/auditpage"
)

// SearchAudit returns one page of audit events matching every set filter of q, newest first.
func (s *Store) SearchAudit(ctx context.Context, q issuer.AuditQuery) (issuer.AuditPage, error) {
	if s.closed.Load() {
		return issuer.AuditPage{}, fmt.Errorf("search audit: %w", errClosed)
	}
	limit := auditpage.Size(q.Limit)
	var where []string
	var args []any
	add := func(cond string, vals ...any) {
		where = append(where, cond)
		args = append(args, vals...)
	}
	if q.RequestID != "" {
		add("request_id = ?", q.RequestID)
	}
	if q.UVCI != "" {
		add("uvci = ?", q.UVCI)
	}
	if q.PrincipalID != "" {
		add("principal_id = ?", q.PrincipalID)
	}
	if q.Outcome != "" {
		add("outcome = ?", string(q.Outcome))
	}
	if q.IdentitySource != "" {
		add("identity_source = ?", string(q.IdentitySource))
	}
	if q.Kind != "" {
		add("kind = ?", string(q.Kind))
	}
	if q.Environment != "" {
		add("environment = ?", string(q.Environment))
	}
	if len(q.SubjectKey) > 0 {
		add("subject_key = ?", q.SubjectKey)
	}
	if !q.From.IsZero() {
		add("at >= ?", micros(q.From))
	}
	if !q.To.IsZero() {
		add("at < ?", micros(q.To))
	}
	if q.Cursor != "" {
		pos, err := auditpage.Decode(q.Cursor)
		if err != nil {
			return issuer.AuditPage{}, fmt.Errorf("search audit: %w (%w)", issuer.ErrInvalidCursor, err)
		}
		add("(at, id) < (?, ?)", micros(pos.At), pos.ID)
	}
	query := `SELECT id, at, request_id, principal_id, role, route, status, outcome, codes, kind, environment,
		identity_source, uvci, subject_masked, subject_key, latency_ns, notes, problems FROM audit_events`
	order := " ORDER BY at DESC, id DESC LIMIT ?"
	if q.Code != "" {
		// Walk the code's index in result order and fetch each event by its key; the other
		// filters apply to the event (its at and id equal the code row's).
		query = `SELECT e.id, e.at, e.request_id, e.principal_id, e.role, e.route, e.status, e.outcome, e.codes,
			e.kind, e.environment, e.identity_source, e.uvci, e.subject_masked, e.subject_key, e.latency_ns,
			e.notes, e.problems FROM audit_event_codes c CROSS JOIN audit_events e ON e.id = c.event_id`
		where = append([]string{"c.code = ?"}, where...)
		args = append([]any{q.Code}, args...)
		for i, w := range where[1:] {
			if strings.HasPrefix(w, "(at, id)") {
				where[i+1] = strings.Replace(w, "(at, id)", "(c.at, c.event_id)", 1)
			} else {
				where[i+1] = "e." + w
			}
		}
		order = " ORDER BY c.at DESC, c.event_id DESC LIMIT ?"
	}
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += order
	args = append(args, limit+1)

	events, err := queryAll(ctx, s, scanAudit, query, args...)
	if err != nil {
		return issuer.AuditPage{}, fmt.Errorf("search audit: %w", err)
	}
	var page issuer.AuditPage
	if len(events) > limit {
		events = events[:limit]
		last := events[limit-1]
		page.Next = auditpage.Encode(auditpage.Position{At: last.At, ID: last.ID})
	}
	page.Events = events
	return page, nil
}

func scanAudit(row scanner) (issuer.AuditEvent, error) {
	var a issuer.AuditEvent
	var role, outcome, kind, env, source, codes, notes string
	var problems sql.NullString
	var at, latency int64
	err := row.Scan(&a.ID, &at, &a.RequestID, &a.PrincipalID, &role, &a.Route, &a.Status, &outcome,
		&codes, &kind, &env, &source, &a.UVCI, &a.SubjectMasked, &a.SubjectKey, &latency, &notes, &problems)
	if err != nil {
		return issuer.AuditEvent{}, classify(err)
	}
	if problems.Valid && problems.String != "" {
		if err := json.Unmarshal([]byte(problems.String), &a.Problems); err != nil {
			return issuer.AuditEvent{}, fmt.Errorf("audit event %s problems: %w", a.ID, err)
		}
	}
	if a.Codes, err = parseList[string](codes); err != nil {
		return issuer.AuditEvent{}, fmt.Errorf("audit event %s codes: %w", a.ID, err)
	}
	if a.Notes, err = parseList[string](notes); err != nil {
		return issuer.AuditEvent{}, fmt.Errorf("audit event %s notes: %w", a.ID, err)
	}
	a.At = fromMicros(at)
	a.Role, a.Outcome, a.Kind = issuer.Role(role), issuer.Outcome(outcome), issuer.Kind(kind)
	a.Environment, a.IdentitySource = issuer.Environment(env), issuer.IdentitySource(source)
	a.Latency = time.Duration(latency)
	a.SubjectKey = nilIfEmpty(a.SubjectKey)
	return a, nil
}

// PurgeAudit deletes audit events recorded before the time, oldest first, in batches of
// purgeBatch, each its own transaction, so that issuance writes, which share the single writer
// connection, run between batches.
func (s *Store) PurgeAudit(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.write(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, `DELETE FROM audit_events WHERE id IN
				(SELECT id FROM audit_events WHERE at < ? ORDER BY at LIMIT ?) RETURNING id`, micros(before), purgeBatch)
			if err != nil {
				return classify(err)
			}
			var ids []any
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return classify(err)
				}
				ids = append(ids, id)
			}
			if err := rows.Close(); err != nil {
				return classify(err)
			}
			if err := rows.Err(); err != nil {
				return classify(err)
			}
			n = int64(len(ids))
			if n == 0 {
				return nil
			}
			_, err = tx.ExecContext(ctx, `DELETE FROM audit_event_codes WHERE event_id IN (?`+
				strings.Repeat(", ?", len(ids)-1)+`)`, ids...)
			return classify(err)
		})
		if err != nil {
			return total, fmt.Errorf("purge audit events: %w", err)
		}
		total += n
		if n < purgeBatch {
			return total, nil
		}
	}
}
