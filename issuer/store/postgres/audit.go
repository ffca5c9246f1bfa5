package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/auditpage"
)

// SearchAudit returns one page of audit events matching every set filter of q, newest first.
func (s *Store) SearchAudit(ctx context.Context, q issuer.AuditQuery) (issuer.AuditPage, error) {
	limit := auditpage.Size(q.Limit)
	sql, args, err := SearchAuditSQL(q)
	if err != nil {
		return issuer.AuditPage{}, fmt.Errorf("search audit: %w (%w)", issuer.ErrInvalidCursor, err)
	}

	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return issuer.AuditPage{}, fmt.Errorf("search audit: %w", classify(err))
	}
	events, err := pgx.CollectRows(rows, scanAudit)
	if err != nil {
		return issuer.AuditPage{}, fmt.Errorf("search audit: %w", classify(err))
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

func scanAudit(row pgx.CollectableRow) (issuer.AuditEvent, error) {
	var a issuer.AuditEvent
	var role, outcome, kind, env, source string
	var latency int64
	var problems []byte
	err := row.Scan(&a.ID, &a.At, &a.RequestID, &a.PrincipalID, &role, &a.Route, &a.Status, &outcome,
		&a.Codes, &kind, &env, &source, &a.UVCI, &a.SubjectMasked, &a.SubjectKey, &latency, &a.Notes, &problems)
	if err != nil {
		return issuer.AuditEvent{}, err
	}
	if len(problems) > 0 {
		if err := json.Unmarshal(problems, &a.Problems); err != nil {
			return issuer.AuditEvent{}, fmt.Errorf("audit event %s problems: %w", a.ID, err)
		}
	}
	a.At = a.At.UTC()
	a.Role, a.Outcome, a.Kind = issuer.Role(role), issuer.Outcome(outcome), issuer.Kind(kind)
	a.Environment, a.IdentitySource = issuer.Environment(env), issuer.IdentitySource(source)
	a.Latency = time.Duration(latency)
	a.Codes, a.Notes, a.SubjectKey = nilIfNone(a.Codes), nilIfNone(a.Notes), nilIfEmpty(a.SubjectKey)
	return a, nil
}

// PurgeAudit deletes audit events recorded before the time, oldest first, in batches of
// purgeBatch: each batch is a short statement of its own, so issuance writes never wait behind
// a long delete, and each stays inside the operation timeout however much has piled up.
func (s *Store) PurgeAudit(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		bctx, cancel := s.bound(ctx)
		var n int64
		err := s.pool.QueryRow(bctx, `WITH gone AS (DELETE FROM audit_events WHERE id IN
				(SELECT id FROM audit_events WHERE at < $1 ORDER BY at LIMIT $2) RETURNING id),
			codes AS (DELETE FROM audit_event_codes c USING gone WHERE c.event_id = gone.id)
			SELECT count(*) FROM gone`, before, purgeBatch).Scan(&n)
		cancel()
		if err != nil {
			return total, fmt.Errorf("purge audit events: %w", classify(err))
		}
		total += n
		if n < purgeBatch {
			return total, nil
		}
	}
}

// SearchAuditSQL is the statement SearchAudit runs for q and its arguments (page size plus one,
// to know whether a further page exists), for SearchAudit and for measuring its plans.
func SearchAuditSQL(q issuer.AuditQuery) (string, []any, error) {
	limit := auditpage.Size(q.Limit)
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	// e is the event; k names the table whose (at, id) order the search walks: the events, or
	// for a code filter the code rows (one per code of an event, with its provider and time),
	// which carry what a code search most often narrows by.
	e, k, kid := "", "", "id"
	from := "audit_events"
	if q.Code != "" {
		e, k, kid = "e.", "c.", "event_id"
		from = "audit_event_codes c JOIN audit_events e ON e.id = c.event_id"
		where = append(where, "c.code = "+arg(q.Code))
	}
	if q.RequestID != "" {
		where = append(where, e+"request_id = "+arg(q.RequestID))
	}
	if q.UVCI != "" {
		where = append(where, e+"uvci = "+arg(q.UVCI))
	}
	if q.PrincipalID != "" {
		where = append(where, k+"principal_id = "+arg(q.PrincipalID))
	}
	if q.Outcome != "" {
		where = append(where, e+"outcome = "+arg(string(q.Outcome)))
	}
	if q.IdentitySource != "" {
		where = append(where, e+"identity_source = "+arg(string(q.IdentitySource)))
	}
	if q.Kind != "" {
		where = append(where, e+"kind = "+arg(string(q.Kind)))
	}
	if q.Environment != "" {
		where = append(where, e+"environment = "+arg(string(q.Environment)))
	}
	if len(q.SubjectKey) > 0 {
		where = append(where, e+"subject_key = "+arg(q.SubjectKey))
	}
	if !q.From.IsZero() {
		where = append(where, k+"at >= "+arg(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, k+"at < "+arg(q.To))
	}
	if q.Cursor != "" {
		pos, err := auditpage.Decode(q.Cursor)
		if err != nil {
			return "", nil, err
		}
		where = append(where, "("+k+"at, "+k+kid+") < ("+arg(pos.At)+", "+arg(pos.ID)+")")
	}
	sql := `SELECT ` + e + `id, ` + e + `at, ` + e + `request_id, ` + e + `principal_id, ` + e + `role, ` + e + `route, ` +
		e + `status, ` + e + `outcome, ` + e + `codes, ` + e + `kind, ` + e + `environment, ` + e + `identity_source, ` +
		e + `uvci, ` + e + `subject_masked, ` + e + `subject_key, ` + e + `latency_ns, ` + e + `notes, ` + e + `problems FROM ` + from
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY " + k + "at DESC, " + k + kid + " DESC LIMIT " + arg(limit+1)
	return sql, args, nil
}
