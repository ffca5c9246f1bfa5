package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sedcc/dcc/issuer"
)

const clientCertColumns = `fingerprint, principal_id, subject, not_after, created_at, revoked_at`

// CreateClientCert binds a TLS client certificate to an existing principal.
func (s *Store) CreateClientCert(ctx context.Context, c issuer.ClientCert) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO client_certificates (`+clientCertColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			nonNilBlob(c.Fingerprint), c.PrincipalID, c.Subject, micros(c.NotAfter), micros(c.CreatedAt), microsPtr(c.RevokedAt))
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("bind client certificate %x to principal %s: %w", c.Fingerprint, c.PrincipalID, err)
	}
	return nil
}

// ClientCert returns the client certificate with the given SHA-256 fingerprint.
func (s *Store) ClientCert(ctx context.Context, fingerprint []byte) (issuer.ClientCert, error) {
	if s.closed.Load() {
		return issuer.ClientCert{}, fmt.Errorf("client certificate %x: %w", fingerprint, errClosed)
	}
	c, err := scanClientCert(s.reader.QueryRowContext(ctx, `SELECT `+clientCertColumns+` FROM client_certificates WHERE fingerprint = ?`, nonNilBlob(fingerprint)))
	if err != nil {
		return issuer.ClientCert{}, fmt.Errorf("client certificate %x: %w", fingerprint, err)
	}
	return c, nil
}

// ListClientCerts returns a principal's client certificates, oldest first.
func (s *Store) ListClientCerts(ctx context.Context, principalID string) ([]issuer.ClientCert, error) {
	list, err := queryAll(ctx, s, scanClientCert, `SELECT `+clientCertColumns+` FROM client_certificates WHERE principal_id = ?
		ORDER BY created_at, fingerprint`, principalID)
	if err != nil {
		return nil, fmt.Errorf("list client certificates of %s: %w", principalID, err)
	}
	return list, nil
}

// RevokeClientCert ends a client certificate's binding at once; the first revocation time stays.
func (s *Store) RevokeClientCert(ctx context.Context, fingerprint []byte, at time.Time) error {
	err := s.updateOne(ctx, `UPDATE client_certificates SET revoked_at = COALESCE(revoked_at, ?) WHERE fingerprint = ?`,
		micros(at), nonNilBlob(fingerprint))
	if err != nil {
		return fmt.Errorf("revoke client certificate %x: %w", fingerprint, err)
	}
	return nil
}

func scanClientCert(row scanner) (issuer.ClientCert, error) {
	var c issuer.ClientCert
	var notAfter, created int64
	var revoked sql.NullInt64
	if err := row.Scan(&c.Fingerprint, &c.PrincipalID, &c.Subject, &notAfter, &created, &revoked); err != nil {
		return issuer.ClientCert{}, classify(err)
	}
	c.NotAfter, c.CreatedAt, c.RevokedAt = fromMicros(notAfter), fromMicros(created), timePtr(revoked)
	return c, nil
}
