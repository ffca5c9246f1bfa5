package embedded

import (
	"context"
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
			return issuer.AuditPage{}, fmt.Errorf("search audit: %w", err)
		}
		add("(at, id) < (?, ?)", micros(pos.At), pos.ID)
	}
	query := `SELECT id, at, request_id, principal_id, role, route, status, outcome, codes, kind, environment,
		identity_source, uvci, subject_masked, subject_key, latency_ns, notes FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY at DESC, id DESC LIMIT ?"
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
	var at, latency int64
	err := row.Scan(&a.ID, &at, &a.RequestID, &a.PrincipalID, &role, &a.Route, &a.Status, &outcome,
		&codes, &kind, &env, &source, &a.UVCI, &a.SubjectMasked, &a.SubjectKey, &latency, &notes)
	if err != nil {
		return issuer.AuditEvent{}, classify(err)
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
