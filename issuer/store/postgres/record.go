package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/groupcommit"
)

const (
	insertCertificate = `INSERT INTO certificates (uvci, provider_id, identifier, kind, environment,
		content_hash, subject_key, hc1, kid, identity_source, delivery, request_id, issued_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (provider_id, identifier) DO NOTHING`
	insertRequest = `INSERT INTO request_records (principal_id, request_id, body_hash, status, uvci, body, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (principal_id, request_id) DO NOTHING`
	insertAudit = `INSERT INTO audit_events (id, at, request_id, principal_id, role, route, status, outcome,
		codes, kind, environment, identity_source, uvci, subject_masked, subject_key, latency_ns, notes, problems)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`

	// insertAuditCodes indexes an event's problem codes, one row each, for searches by code.
	insertAuditCodes = `INSERT INTO audit_event_codes (event_id, code, principal_id, at)
		SELECT $1, c, $2, $3 FROM unnest($4::text[]) AS c ON CONFLICT DO NOTHING`

	certificateColumns = `uvci, provider_id, identifier, kind, environment, content_hash, subject_key,
		hc1, kid, identity_source, delivery, request_id, issued_at, expires_at`
)

// Record writes r in one transaction: the certificate (if any), the request record (if any) and
// the audit event. A taken (provider, identifier) or (principal, request id) rolls everything
// back. An audit event without an ID is given a UUIDv7.
//
// Concurrent Records share one transaction and one durable commit (group commit): Record hands
// r to a committer and returns once the commit that holds it has returned, so a nil result is
// durable. A Record whose identifier or request id is taken is left out of the shared commit and
// answered alone.
//
// The store's timeout bounds the whole call, the wait for a committer included: a commit runs
// until the earliest deadline of the Records it holds, so that a Record queued behind a commit
// that hangs (a database that stopped answering) is not given a second timeout of its own.
func (s *Store) Record(ctx context.Context, r issuer.Record) error {
	if r.Audit.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("record: audit event id: %w", err)
		}
		r.Audit.ID = id.String()
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	deadline, _ := ctx.Deadline()
	err := s.group.Do(ctx, pendingRecord{rec: r, deadline: deadline})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, issuer.ErrIdentifierTaken), errors.Is(err, issuer.ErrRequestIDTaken):
		return err
	case errors.Is(err, groupcommit.ErrClosed):
		return fmt.Errorf("record audit event %s: %w: store closed", r.Audit.ID, issuer.ErrStoreUnavailable)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("record audit event %s: %w", r.Audit.ID, classify(err))
	}
	return err
}

// pendingRecord is a Record waiting for a group commit, with its caller's deadline.
type pendingRecord struct {
	rec      issuer.Record
	deadline time.Time
}

// commitRecords is the group commit: every Record in one transaction, pipelined in one round
// trip. When one of them meets a taken identifier or request id, it is answered with that and the
// rest are tried again without it; when the server refuses a statement otherwise, each Record is
// tried in a transaction of its own, so that one bad Record fails alone. A failure to reach the
// server fails them all: whether a commit was made may then be unknown, so none is tried again.
func (s *Store) commitRecords(ps []pendingRecord) []error {
	deadline := ps[0].deadline
	rs := make([]issuer.Record, len(ps))
	for i, p := range ps {
		rs[i] = p.rec
		if p.deadline.Before(deadline) {
			deadline = p.deadline
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	errs := make([]error, len(rs))
	if len(rs) == 1 {
		errs[0] = s.recordOne(ctx, rs[0])
		return errs
	}
	active := make([]int, len(rs))
	for i := range active {
		active[i] = i
	}
	for len(active) > 0 {
		conflict, err := s.tryBatch(ctx, rs, active)
		switch {
		case conflict >= 0:
			errs[active[conflict]] = err
			active = append(active[:conflict], active[conflict+1:]...)
			continue
		case err != nil:
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				// Not a statement the server refused (a lost connection, a timeout): the
				// outcome of the commit may be unknown, so nothing is tried again.
				for _, i := range active {
					errs[i] = fmt.Errorf("record audit event %s: %w", rs[i].Audit.ID, classify(err))
				}
				return errs
			}
			for _, i := range active {
				errs[i] = s.recordOne(ctx, rs[i])
			}
		}
		return errs
	}
	return errs
}

// tryBatch writes the active Records in one transaction and commits it, unless one of them meets
// a taken key: then it rolls back and returns that Record's place in active and its error.
// Otherwise conflict is -1 and err the transaction's error.
func (s *Store) tryBatch(ctx context.Context, rs []issuer.Record, active []int) (conflict int, err error) {
	batch := &pgx.Batch{}
	for _, i := range active {
		if err := queueRecord(batch, rs[i]); err != nil {
			return -1, err
		}
	}
	conflict = -1
	var conflictErr error
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		results := tx.SendBatch(ctx, batch)
		for k, i := range active {
			err := checkBatch(results, rs[i])
			if errors.Is(err, issuer.ErrIdentifierTaken) || errors.Is(err, issuer.ErrRequestIDTaken) {
				if conflict < 0 {
					conflict, conflictErr = k, err
				}
				continue
			}
			if err != nil {
				_ = results.Close()
				return err
			}
		}
		if err := results.Close(); err != nil {
			return err
		}
		if conflict >= 0 {
			return errRetry
		}
		return nil
	})
	if conflict >= 0 {
		return conflict, conflictErr
	}
	return -1, err
}

// errRetry rolls back a group commit that met a taken key.
var errRetry = errors.New("a record met a taken key")

func queueRecord(batch *pgx.Batch, r issuer.Record) error {
	if c := r.Certificate; c != nil {
		batch.Queue(insertCertificate, c.UVCI, c.ProviderID, c.Identifier, string(c.Kind), string(c.Environment),
			c.ContentHash, c.SubjectKey, c.HC1, c.KID, string(c.IdentitySource), string(c.Delivery), c.RequestID,
			c.IssuedAt, c.ExpiresAt)
	}
	if q := r.Request; q != nil {
		batch.Queue(insertRequest, q.PrincipalID, q.RequestID, q.BodyHash, q.Status, q.UVCI, q.Body, q.CreatedAt)
	}
	a := r.Audit
	problems, err := auditProblems(a)
	if err != nil {
		return err
	}
	batch.Queue(insertAudit, a.ID, a.At, a.RequestID, a.PrincipalID, string(a.Role), a.Route, a.Status,
		string(a.Outcome), nonNil(a.Codes), string(a.Kind), string(a.Environment), string(a.IdentitySource),
		a.UVCI, a.SubjectMasked, a.SubjectKey, int64(a.Latency), nonNil(a.Notes), problems)
	if len(a.Codes) > 0 {
		batch.Queue(insertAuditCodes, a.ID, a.PrincipalID, a.At, a.Codes)
	}
	return nil
}

// recordOne writes one Record in a transaction of its own.
func (s *Store) recordOne(ctx context.Context, r issuer.Record) error {
	batch := &pgx.Batch{}
	if err := queueRecord(batch, r); err != nil {
		return err
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		results := tx.SendBatch(ctx, batch)
		if err := checkBatch(results, r); err != nil {
			_ = results.Close()
			return err
		}
		return results.Close()
	})
	switch {
	case errors.Is(err, issuer.ErrIdentifierTaken), errors.Is(err, issuer.ErrRequestIDTaken):
		return err
	case err != nil && r.Certificate != nil && uvciTaken(err):
		// Two writers raced for one Identifier: its UVCI is derived from the provider and the
		// Identifier, so the primary key may be the conflict PostgreSQL meets first, before the
		// (provider_id, identifier) key that ON CONFLICT names. Ask which it was.
		if s.identifierStored(ctx, r.Certificate) {
			return fmt.Errorf("record certificate %s: provider %s identifier %q: %w",
				r.Certificate.UVCI, r.Certificate.ProviderID, r.Certificate.Identifier, issuer.ErrIdentifierTaken)
		}
		return fmt.Errorf("record audit event %s: %w", r.Audit.ID, classify(err))
	case err != nil:
		return fmt.Errorf("record audit event %s: %w", r.Audit.ID, classify(err))
	}
	return nil
}

// uvciTaken reports a unique violation of the certificates' primary key.
func uvciTaken(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "certificates_pkey"
}

// identifierStored reports whether a certificate of c's provider and Identifier is stored.
func (s *Store) identifierStored(ctx context.Context, c *issuer.Certificate) bool {
	var one int
	err := s.pool.QueryRow(ctx, `SELECT 1 FROM certificates WHERE provider_id = $1 AND identifier = $2`,
		c.ProviderID, c.Identifier).Scan(&one)
	return err == nil
}

// RecordAudit writes events in one transaction. Events without an ID are given a UUIDv7.
func (s *Store) RecordAudit(ctx context.Context, events []issuer.AuditEvent) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	batch := &pgx.Batch{}
	for _, a := range events {
		if a.ID == "" {
			id, err := uuid.NewV7()
			if err != nil {
				return fmt.Errorf("record audit events: id: %w", err)
			}
			a.ID = id.String()
		}
		problems, err := auditProblems(a)
		if err != nil {
			return err
		}
		batch.Queue(insertAudit, a.ID, a.At, a.RequestID, a.PrincipalID, string(a.Role), a.Route, a.Status,
			string(a.Outcome), nonNil(a.Codes), string(a.Kind), string(a.Environment), string(a.IdentitySource),
			a.UVCI, a.SubjectMasked, a.SubjectKey, int64(a.Latency), nonNil(a.Notes), problems)
		if len(a.Codes) > 0 {
			batch.Queue(insertAuditCodes, a.ID, a.PrincipalID, a.At, a.Codes)
		}
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return fmt.Errorf("record %d audit events: %w", len(events), classify(err))
	}
	return nil
}

// checkBatch reads the batch's results in the order they were queued; an insert that met an
// existing key (ON CONFLICT DO NOTHING) reports the matching sentinel.
func checkBatch(results pgx.BatchResults, r issuer.Record) error {
	if c := r.Certificate; c != nil {
		tag, err := results.Exec()
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("record certificate %s: provider %s identifier %q: %w",
				c.UVCI, c.ProviderID, c.Identifier, issuer.ErrIdentifierTaken)
		}
	}
	if q := r.Request; q != nil {
		tag, err := results.Exec()
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("record request %q of %s: %w", q.RequestID, q.PrincipalID, issuer.ErrRequestIDTaken)
		}
	}
	_, err := results.Exec()
	return err
}

// purgeBatch bounds the rows one purge statement deletes, so that each stays well inside the
// store's operation timeout however much has piled up.
const purgeBatch = 5000

// PurgeRequests deletes request records created before the time, in batches.
func (s *Store) PurgeRequests(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		bctx, cancel := s.bound(ctx)
		tag, err := s.pool.Exec(bctx, `DELETE FROM request_records WHERE ctid IN
			(SELECT ctid FROM request_records WHERE created_at < $1 LIMIT $2)`, before, purgeBatch)
		cancel()
		if err != nil {
			return total, fmt.Errorf("purge request records: %w", classify(err))
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < purgeBatch {
			return total, nil
		}
	}
}

// CertificateByIdentifier returns the certificate a provider issued for its Identifier.
func (s *Store) CertificateByIdentifier(ctx context.Context, providerID, identifier string) (issuer.Certificate, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+certificateColumns+` FROM certificates
		WHERE provider_id = $1 AND identifier = $2`, providerID, identifier)
	c, err := collectOne(rows, err, scanCertificate)
	if err != nil {
		return issuer.Certificate{}, fmt.Errorf("certificate of provider %s identifier %q: %w", providerID, identifier, classify(err))
	}
	return c, nil
}

// CertificateByUVCI returns the certificate with the given UVCI.
func (s *Store) CertificateByUVCI(ctx context.Context, uvci string) (issuer.Certificate, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+certificateColumns+` FROM certificates WHERE uvci = $1`, uvci)
	c, err := collectOne(rows, err, scanCertificate)
	if err != nil {
		return issuer.Certificate{}, fmt.Errorf("certificate %s: %w", uvci, classify(err))
	}
	return c, nil
}

// CertificatesBySubject lists a person's certificates, newest first; none is an empty list.
func (s *Store) CertificatesBySubject(ctx context.Context, subjectKey []byte) ([]issuer.Certificate, error) {
	if len(subjectKey) == 0 {
		return nil, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+certificateColumns+` FROM certificates
		WHERE subject_key = $1 ORDER BY issued_at DESC, uvci DESC`, subjectKey)
	if err != nil {
		return nil, fmt.Errorf("certificates of subject: %w", classify(err))
	}
	list, err := pgx.CollectRows(rows, scanCertificate)
	if err != nil {
		return nil, fmt.Errorf("certificates of subject: %w", classify(err))
	}
	return list, nil
}

// Request returns the record of a client-given request id.
func (s *Store) Request(ctx context.Context, principalID, requestID string) (issuer.RequestRecord, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var q issuer.RequestRecord
	err := s.pool.QueryRow(ctx, `SELECT principal_id, request_id, body_hash, status, uvci, body, created_at
		FROM request_records WHERE principal_id = $1 AND request_id = $2`, principalID, requestID).
		Scan(&q.PrincipalID, &q.RequestID, &q.BodyHash, &q.Status, &q.UVCI, &q.Body, &q.CreatedAt)
	if err != nil {
		return issuer.RequestRecord{}, fmt.Errorf("request %q of %s: %w", requestID, principalID, classify(err))
	}
	q.BodyHash, q.Body = nilIfEmpty(q.BodyHash), nilIfEmpty(q.Body)
	q.CreatedAt = q.CreatedAt.UTC()
	return q, nil
}

func scanCertificate(row pgx.CollectableRow) (issuer.Certificate, error) {
	var c issuer.Certificate
	var kind, env, source, delivery string
	err := row.Scan(&c.UVCI, &c.ProviderID, &c.Identifier, &kind, &env, &c.ContentHash, &c.SubjectKey,
		&c.HC1, &c.KID, &source, &delivery, &c.RequestID, &c.IssuedAt, &c.ExpiresAt)
	if err != nil {
		return issuer.Certificate{}, err
	}
	c.Kind, c.Environment = issuer.Kind(kind), issuer.Environment(env)
	c.IdentitySource, c.Delivery = issuer.IdentitySource(source), issuer.Delivery(delivery)
	c.ContentHash, c.SubjectKey, c.KID = nilIfEmpty(c.ContentHash), nilIfEmpty(c.SubjectKey), nilIfEmpty(c.KID)
	c.IssuedAt, c.ExpiresAt = c.IssuedAt.UTC(), c.ExpiresAt.UTC()
	return c, nil
}

// collectOne returns the single row of a query, or pgx.ErrNoRows.
func collectOne[T any](rows pgx.Rows, err error, scan pgx.RowToFunc[T]) (T, error) {
	if err != nil {
		var zero T
		return zero, err
	}
	return pgx.CollectExactlyOneRow(rows, scan)
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// auditProblems encodes an event's problems for the jsonb column; nil (NULL) when there are none.
func auditProblems(a issuer.AuditEvent) (any, error) {
	if len(a.Problems) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(a.Problems)
	if err != nil {
		return nil, fmt.Errorf("record audit event %s: problems: %w", a.ID, err)
	}
	return string(b), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nilIfNone(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
