package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/groupcommit"
)

const certificateColumns = `uvci, provider_id, identifier, kind, environment, content_hash, subject_key,
	hc1, kid, identity_source, delivery, request_id, issued_at, expires_at`

// Record writes r in one transaction: the certificate (if any), the request record (if any) and
// the audit event. A taken (provider, identifier) or (principal, request id) rolls everything
// back. An audit event without an ID is given a UUIDv7.
//
// Concurrent Records share one write transaction and one fsync (group commit): each Record is
// written under a savepoint of its own, so that one meeting a taken key is rolled back alone, and
// Record returns once the shared commit has returned, so a nil result is durable.
func (s *Store) Record(ctx context.Context, r issuer.Record) error {
	if s.closed.Load() {
		return fmt.Errorf("record: %w", errClosed)
	}
	a, err := prepareAudit(r.Audit)
	if err != nil {
		return err
	}
	err = s.group.Do(ctx, recordItem{r: r, a: a})
	switch {
	case errors.Is(err, groupcommit.ErrClosed):
		return fmt.Errorf("record: %w", errClosed)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("record audit event %s: %w", a.ev.ID, classify(err))
	}
	return err
}

// recordItem is a Record waiting for the group commit, its audit event prepared.
type recordItem struct {
	r issuer.Record
	a auditRow
}

// commitRecords writes every item in one transaction, each under its own savepoint, and commits.
func (s *Store) commitRecords(items []recordItem) []error {
	errs := make([]error, len(items))
	ctx, cancel := context.WithTimeout(context.Background(), BusyTimeout+5*time.Second)
	defer cancel()
	err := s.write(ctx, func(tx *sql.Tx) error {
		st := s.stmts
		for i, it := range items {
			if _, err := tx.StmtContext(ctx, st.savepoint).ExecContext(ctx); err != nil {
				return fmt.Errorf("savepoint: %w", classify(err))
			}
			errs[i] = st.recordIn(ctx, tx, it.r, it.a)
			if errs[i] != nil {
				if _, err := tx.StmtContext(ctx, st.rollbackTo).ExecContext(ctx); err != nil {
					return fmt.Errorf("roll back to savepoint: %w", classify(err))
				}
			}
			if _, err := tx.StmtContext(ctx, st.release).ExecContext(ctx); err != nil {
				return fmt.Errorf("release savepoint: %w", classify(err))
			}
		}
		return nil
	})
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("record audit event %s: %w", items[i].a.ev.ID, err)
			}
		}
	}
	return errs
}

// writeStmts are the writer connection's statements of a Record, prepared once.
type writeStmts struct {
	savepoint, rollbackTo, release    *sql.Stmt
	certificate, request, audit, code *sql.Stmt
}

func prepareWrites(db *sql.DB) (*writeStmts, error) {
	w := &writeStmts{}
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&w.savepoint, `SAVEPOINT rec`},
		{&w.rollbackTo, `ROLLBACK TO rec`},
		{&w.release, `RELEASE rec`},
		{&w.certificate, insertCertificateSQL},
		{&w.request, insertRequestSQL},
		{&w.audit, insertAuditSQL},
		{&w.code, insertCodeSQL},
	} {
		st, err := db.Prepare(p.query)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("prepare %q: %w", p.query, classify(err)), w.close())
		}
		*p.stmt = st
	}
	return w, nil
}

func (w *writeStmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{w.savepoint, w.rollbackTo, w.release, w.certificate, w.request, w.audit, w.code} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

const (
	insertCertificateSQL = `INSERT INTO certificates (` + certificateColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (provider_id, identifier) DO NOTHING`
	insertRequestSQL = `INSERT INTO request_records
		(principal_id, request_id, body_hash, status, uvci, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (principal_id, request_id) DO NOTHING`
	insertCodeSQL = `INSERT OR IGNORE INTO audit_event_codes (code, at, event_id) VALUES (?, ?, ?)`
)

// recordIn writes one Record in tx.
func (w *writeStmts) recordIn(ctx context.Context, tx *sql.Tx, r issuer.Record, a auditRow) error {
	if c := r.Certificate; c != nil {
		res, err := tx.StmtContext(ctx, w.certificate).ExecContext(ctx,
			c.UVCI, c.ProviderID, c.Identifier, string(c.Kind), string(c.Environment), blob(c.ContentHash),
			blob(c.SubjectKey), c.HC1, blob(c.KID), string(c.IdentitySource), string(c.Delivery), c.RequestID,
			micros(c.IssuedAt), micros(c.ExpiresAt))
		if err := inserted(res, err); err != nil {
			if errors.Is(err, errNothingInserted) {
				err = issuer.ErrIdentifierTaken
			}
			return fmt.Errorf("record certificate %s: provider %s identifier %q: %w", c.UVCI, c.ProviderID, c.Identifier, err)
		}
	}
	if q := r.Request; q != nil {
		res, err := tx.StmtContext(ctx, w.request).ExecContext(ctx,
			q.PrincipalID, q.RequestID, nonNilBlob(q.BodyHash), q.Status, q.UVCI, blob(q.Body), micros(q.CreatedAt))
		if err := inserted(res, err); err != nil {
			if errors.Is(err, errNothingInserted) {
				err = issuer.ErrRequestIDTaken
			}
			return fmt.Errorf("record request %q of %s: %w", q.RequestID, q.PrincipalID, err)
		}
	}
	return w.insertAudit(ctx, tx, a)
}

// auditRow is an audit event ready to insert: its id set, its lists encoded.
type auditRow struct {
	ev           issuer.AuditEvent
	codes, notes string
	problems     any // JSON text, or nil (NULL) when the event has none
}

// prepareAudit gives an event without an ID a UUIDv7 and encodes its lists.
func prepareAudit(a issuer.AuditEvent) (auditRow, error) {
	if a.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return auditRow{}, fmt.Errorf("record: audit event id: %w", err)
		}
		a.ID = id.String()
	}
	codes, err := jsonList(a.Codes)
	if err != nil {
		return auditRow{}, fmt.Errorf("record audit event %s: codes: %w", a.ID, err)
	}
	notes, err := jsonList(a.Notes)
	if err != nil {
		return auditRow{}, fmt.Errorf("record audit event %s: notes: %w", a.ID, err)
	}
	row := auditRow{ev: a, codes: codes, notes: notes}
	if len(a.Problems) > 0 {
		b, err := json.Marshal(a.Problems)
		if err != nil {
			return auditRow{}, fmt.Errorf("record audit event %s: problems: %w", a.ID, err)
		}
		row.problems = string(b)
	}
	return row, nil
}

const insertAuditSQL = `INSERT INTO audit_events (id, at, request_id, principal_id, role, route,
	status, outcome, codes, kind, environment, identity_source, uvci, subject_masked, subject_key,
	latency_ns, notes, problems) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func (w *writeStmts) insertAudit(ctx context.Context, tx *sql.Tx, r auditRow) error {
	a := r.ev
	_, err := tx.StmtContext(ctx, w.audit).ExecContext(ctx,
		a.ID, micros(a.At), a.RequestID, a.PrincipalID, string(a.Role), a.Route, a.Status, string(a.Outcome),
		r.codes, string(a.Kind), string(a.Environment), string(a.IdentitySource), a.UVCI, a.SubjectMasked,
		blob(a.SubjectKey), int64(a.Latency), r.notes, r.problems)
	if err != nil {
		return fmt.Errorf("record audit event %s: %w", a.ID, classify(err))
	}
	for _, code := range a.Codes {
		_, err := tx.StmtContext(ctx, w.code).ExecContext(ctx, code, micros(a.At), a.ID)
		if err != nil {
			return fmt.Errorf("record audit event %s: code %s: %w", a.ID, code, classify(err))
		}
	}
	return nil
}

// RecordAudit writes events in one transaction. Events without an ID are given a UUIDv7.
func (s *Store) RecordAudit(ctx context.Context, events []issuer.AuditEvent) error {
	if s.closed.Load() {
		return fmt.Errorf("record audit events: %w", errClosed)
	}
	rows := make([]auditRow, 0, len(events))
	for _, a := range events {
		r, err := prepareAudit(a)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		for _, r := range rows {
			if err := s.stmts.insertAudit(ctx, tx, r); err != nil {
				return err
			}
		}
		return nil
	})
}

var errNothingInserted = errors.New("key exists")

// inserted checks that an INSERT ... ON CONFLICT DO NOTHING wrote its row.
func inserted(res sql.Result, err error) error {
	if err != nil {
		return classify(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return classify(err)
	}
	if n == 0 {
		return errNothingInserted
	}
	return nil
}

func nonNilBlob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// write runs fn in a write transaction on the single writer connection.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.closed.Load() {
		return errClosed
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", classify(err))
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", classify(err))
	}
	return nil
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// purgeBatch bounds the rows one purge transaction deletes, so that issuance writes, which share
// the single writer connection, run between batches.
const purgeBatch = 5000

// PurgeRequests deletes request records created before the time, in batches.
func (s *Store) PurgeRequests(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.write(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM request_records WHERE rowid IN
				(SELECT rowid FROM request_records WHERE created_at < ? LIMIT ?)`, micros(before), purgeBatch)
			if err != nil {
				return classify(err)
			}
			n, err = res.RowsAffected()
			return classify(err)
		})
		if err != nil {
			return total, fmt.Errorf("purge request records: %w", err)
		}
		total += n
		if n < purgeBatch {
			return total, nil
		}
	}
}

// CertificateByIdentifier returns the certificate a provider issued for its Identifier.
func (s *Store) CertificateByIdentifier(ctx context.Context, providerID, identifier string) (issuer.Certificate, error) {
	c, err := s.oneCertificate(ctx, `provider_id = ? AND identifier = ?`, providerID, identifier)
	if err != nil {
		return issuer.Certificate{}, fmt.Errorf("certificate of provider %s identifier %q: %w", providerID, identifier, err)
	}
	return c, nil
}

// CertificateByUVCI returns the certificate with the given UVCI.
func (s *Store) CertificateByUVCI(ctx context.Context, uvci string) (issuer.Certificate, error) {
	c, err := s.oneCertificate(ctx, `uvci = ?`, uvci)
	if err != nil {
		return issuer.Certificate{}, fmt.Errorf("certificate %s: %w", uvci, err)
	}
	return c, nil
}

func (s *Store) oneCertificate(ctx context.Context, where string, args ...any) (issuer.Certificate, error) {
	if s.closed.Load() {
		return issuer.Certificate{}, errClosed
	}
	c, err := scanCertificate(s.reader.QueryRowContext(ctx, `SELECT `+certificateColumns+` FROM certificates WHERE `+where, args...))
	if err != nil {
		return issuer.Certificate{}, classify(err)
	}
	return c, nil
}

// CertificatesBySubject lists a person's certificates, newest first; none is an empty list.
func (s *Store) CertificatesBySubject(ctx context.Context, subjectKey []byte) ([]issuer.Certificate, error) {
	if len(subjectKey) == 0 {
		return nil, nil
	}
	list, err := queryAll(ctx, s, scanCertificate, `SELECT `+certificateColumns+` FROM certificates
		WHERE subject_key = ? ORDER BY issued_at DESC, uvci DESC`, subjectKey)
	if err != nil {
		return nil, fmt.Errorf("certificates of subject: %w", err)
	}
	return list, nil
}

type scanner interface{ Scan(dest ...any) error }

// queryAll runs a read query on the reader pool and scans every row with scan.
func queryAll[T any](ctx context.Context, s *Store, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var list []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, classify(err)
		}
		list = append(list, v)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return list, nil
}

func scanCertificate(row scanner) (issuer.Certificate, error) {
	var c issuer.Certificate
	var kind, env, source, delivery string
	var issued, expires int64
	err := row.Scan(&c.UVCI, &c.ProviderID, &c.Identifier, &kind, &env, &c.ContentHash, &c.SubjectKey,
		&c.HC1, &c.KID, &source, &delivery, &c.RequestID, &issued, &expires)
	if err != nil {
		return issuer.Certificate{}, err
	}
	c.Kind, c.Environment = issuer.Kind(kind), issuer.Environment(env)
	c.IdentitySource, c.Delivery = issuer.IdentitySource(source), issuer.Delivery(delivery)
	c.ContentHash, c.SubjectKey, c.KID = nilIfEmpty(c.ContentHash), nilIfEmpty(c.SubjectKey), nilIfEmpty(c.KID)
	c.IssuedAt, c.ExpiresAt = fromMicros(issued), fromMicros(expires)
	return c, nil
}

// Request returns the record of a client-given request id.
func (s *Store) Request(ctx context.Context, principalID, requestID string) (issuer.RequestRecord, error) {
	if s.closed.Load() {
		return issuer.RequestRecord{}, fmt.Errorf("request %q of %s: %w", requestID, principalID, errClosed)
	}
	var q issuer.RequestRecord
	var created int64
	err := s.reader.QueryRowContext(ctx, `SELECT principal_id, request_id, body_hash, status, uvci, body, created_at
		FROM request_records WHERE principal_id = ? AND request_id = ?`, principalID, requestID).
		Scan(&q.PrincipalID, &q.RequestID, &q.BodyHash, &q.Status, &q.UVCI, &q.Body, &created)
	if err != nil {
		return issuer.RequestRecord{}, fmt.Errorf("request %q of %s: %w", requestID, principalID, classify(err))
	}
	q.BodyHash, q.Body = nilIfEmpty(q.BodyHash), nilIfEmpty(q.Body)
	q.CreatedAt = fromMicros(created)
	return q, nil
}
