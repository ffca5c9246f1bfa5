package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sedcc/dcc/issuer"
)

const clientCertColumns = `fingerprint, principal_id, subject, not_after, created_at, revoked_at`

// CreateClientCert binds a TLS client certificate to an existing principal.
func (s *Store) CreateClientCert(ctx context.Context, c issuer.ClientCert) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO client_certificates (`+clientCertColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		c.Fingerprint, c.PrincipalID, c.Subject, c.NotAfter, c.CreatedAt, c.RevokedAt)
	if err != nil {
		return fmt.Errorf("bind client certificate %x to principal %s: %w", c.Fingerprint, c.PrincipalID, classify(err))
	}
	return nil
}

// ClientCert returns the client certificate with the given SHA-256 fingerprint.
func (s *Store) ClientCert(ctx context.Context, fingerprint []byte) (issuer.ClientCert, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+clientCertColumns+` FROM client_certificates WHERE fingerprint = $1`, fingerprint)
	c, err := collectOne(rows, err, scanClientCert)
	if err != nil {
		return issuer.ClientCert{}, fmt.Errorf("client certificate %x: %w", fingerprint, classify(err))
	}
	return c, nil
}

// ListClientCerts returns a principal's client certificates, oldest first.
func (s *Store) ListClientCerts(ctx context.Context, principalID string) ([]issuer.ClientCert, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+clientCertColumns+` FROM client_certificates WHERE principal_id = $1
		ORDER BY created_at, fingerprint`, principalID)
	if err != nil {
		return nil, fmt.Errorf("list client certificates of %s: %w", principalID, classify(err))
	}
	list, err := pgx.CollectRows(rows, scanClientCert)
	if err != nil {
		return nil, fmt.Errorf("list client certificates of %s: %w", principalID, classify(err))
	}
	return list, nil
}

// RevokeClientCert ends a client certificate's binding at once; the first revocation time stays.
func (s *Store) RevokeClientCert(ctx context.Context, fingerprint []byte, at time.Time) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE client_certificates SET revoked_at = COALESCE(revoked_at, $2) WHERE fingerprint = $1`, fingerprint, at)
	if err != nil {
		return fmt.Errorf("revoke client certificate %x: %w", fingerprint, classify(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke client certificate %x: %w", fingerprint, issuer.ErrNotFound)
	}
	return nil
}

func scanClientCert(row pgx.CollectableRow) (issuer.ClientCert, error) {
	var c issuer.ClientCert
	if err := row.Scan(&c.Fingerprint, &c.PrincipalID, &c.Subject, &c.NotAfter, &c.CreatedAt, &c.RevokedAt); err != nil {
		return issuer.ClientCert{}, err
	}
	c.NotAfter, c.CreatedAt, c.RevokedAt = c.NotAfter.UTC(), c.CreatedAt.UTC(), utcPtr(c.RevokedAt)
	return c, nil
}
