package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sedcc/dcc/issuer"
)

const revocationColumns = `uvci, reason, revoked_at, revoked_by, kid, environment, expires_at,
	uci_hash, country_uci_hash, signature_hash`

// Revoke writes the revocation (unless the UVCI is revoked already) and the audit event in one
// transaction.
func (s *Store) Revoke(ctx context.Context, r issuer.Revocation, audit issuer.AuditEvent) (issuer.Revocation, bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if audit.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return issuer.Revocation{}, false, fmt.Errorf("revoke %s: audit event id: %w", r.UVCI, err)
		}
		audit.ID = id.String()
	}
	var stored issuer.Revocation
	var created bool
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO revocations (`+revocationColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (uvci) DO NOTHING`,
			r.UVCI, string(r.Reason), r.RevokedAt, r.RevokedBy, r.KID, string(r.Environment), r.ExpiresAt,
			r.UCIHash, r.CountryCodeUCIHash, r.SignatureHash)
		if err != nil {
			return err
		}
		created = tag.RowsAffected() == 1
		rows, err := tx.Query(ctx, `SELECT `+revocationColumns+` FROM revocations WHERE uvci = $1`, r.UVCI)
		if stored, err = collectOne(rows, err, scanRevocation); err != nil {
			return err
		}
		a := audit
		if !created {
			a.Outcome, a.Notes = issuer.OutcomeReplayed, append(slices.Clone(a.Notes), issuer.NoteAlreadyRevoked)
		}
		problems, err := auditProblems(a)
		if err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, insertAudit, a.ID, a.At, a.RequestID, a.PrincipalID, string(a.Role), a.Route, a.Status,
			string(a.Outcome), nonNil(a.Codes), string(a.Kind), string(a.Environment), string(a.IdentitySource),
			a.UVCI, a.SubjectMasked, a.SubjectKey, int64(a.Latency), nonNil(a.Notes), problems); err != nil {
			return err
		}
		if len(a.Codes) > 0 {
			_, err = tx.Exec(ctx, insertAuditCodes, a.ID, a.PrincipalID, a.At, a.Codes)
		}
		return err
	})
	if err != nil {
		return issuer.Revocation{}, false, fmt.Errorf("revoke %s: %w", r.UVCI, classify(err))
	}
	return stored, created, nil
}

// Revocation returns the revocation of a UVCI.
func (s *Store) Revocation(ctx context.Context, uvci string) (issuer.Revocation, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+revocationColumns+` FROM revocations WHERE uvci = $1`, uvci)
	r, err := collectOne(rows, err, scanRevocation)
	if err != nil {
		return issuer.Revocation{}, fmt.Errorf("revocation of %s: %w", uvci, classify(err))
	}
	return r, nil
}

// RevokedAmong returns which of the UVCIs are revoked, in one query.
func (s *Store) RevokedAmong(ctx context.Context, uvcis []string) (map[string]bool, error) {
	revoked := map[string]bool{}
	if len(uvcis) == 0 {
		return revoked, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT uvci FROM revocations WHERE uvci = ANY($1)`, uvcis)
	if err != nil {
		return nil, fmt.Errorf("revoked among %d certificates: %w", len(uvcis), classify(err))
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("revoked among %d certificates: %w", len(uvcis), classify(err))
	}
	for _, u := range list {
		revoked[u] = true
	}
	return revoked, nil
}

// Revocations lists the revocations of certificates expiring after the time.
func (s *Store) Revocations(ctx context.Context, expiringAfter time.Time) ([]issuer.Revocation, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+revocationColumns+` FROM revocations
		WHERE expires_at > $1 ORDER BY revoked_at, uvci`, expiringAfter)
	if err != nil {
		return nil, fmt.Errorf("revocations: %w", classify(err))
	}
	list, err := pgx.CollectRows(rows, scanRevocation)
	if err != nil {
		return nil, fmt.Errorf("revocations: %w", classify(err))
	}
	return list, nil
}

func scanRevocation(row pgx.CollectableRow) (issuer.Revocation, error) {
	var r issuer.Revocation
	var reason, env string
	err := row.Scan(&r.UVCI, &reason, &r.RevokedAt, &r.RevokedBy, &r.KID, &env, &r.ExpiresAt,
		&r.UCIHash, &r.CountryCodeUCIHash, &r.SignatureHash)
	if err != nil {
		return issuer.Revocation{}, err
	}
	r.Reason, r.Environment = issuer.RevocationReason(reason), issuer.Environment(env)
	r.RevokedAt, r.ExpiresAt = r.RevokedAt.UTC(), r.ExpiresAt.UTC()
	return r, nil
}

// RecordSigningCertificate remembers a DSC; a known one is left as it is.
func (s *Store) RecordSigningCertificate(ctx context.Context, c issuer.SigningCertificate) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if len(c.Certificate) == 0 {
		return errors.New("record signing certificate: no certificate")
	}
	sum := sha256.Sum256(c.Certificate)
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_certificates (thumbprint, environment, certificate, first_used_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (thumbprint) DO NOTHING`, sum[:], string(c.Environment), c.Certificate, c.FirstUsedAt)
	if err != nil {
		return fmt.Errorf("record signing certificate: %w", classify(err))
	}
	return nil
}

// SigningCertificates lists the remembered DSCs, first used first.
func (s *Store) SigningCertificates(ctx context.Context) ([]issuer.SigningCertificate, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT environment, certificate, first_used_at FROM signing_certificates
		ORDER BY first_used_at, thumbprint`)
	if err != nil {
		return nil, fmt.Errorf("signing certificates: %w", classify(err))
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (issuer.SigningCertificate, error) {
		var c issuer.SigningCertificate
		var env string
		if err := row.Scan(&env, &c.Certificate, &c.FirstUsedAt); err != nil {
			return issuer.SigningCertificate{}, err
		}
		c.Environment, c.FirstUsedAt = issuer.Environment(env), c.FirstUsedAt.UTC()
		return c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("signing certificates: %w", classify(err))
	}
	return list, nil
}
