package embedded

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sedcc/dcc/issuer"
)

const revocationColumns = `uvci, reason, revoked_at, revoked_by, kid, environment, expires_at,
	uci_hash, country_uci_hash, signature_hash`

// Revoke writes the revocation (unless the UVCI is revoked already) and the audit event in one
// transaction. A UVCI without a certificate is issuer.ErrNotFound.
func (s *Store) Revoke(ctx context.Context, r issuer.Revocation, audit issuer.AuditEvent) (issuer.Revocation, bool, error) {
	a, err := prepareAudit(audit)
	if err != nil {
		return issuer.Revocation{}, false, err
	}
	var stored issuer.Revocation
	var created bool
	err = s.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM certificates WHERE uvci = ?`, r.UVCI).Scan(&one); err != nil {
			return classify(err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO revocations (`+revocationColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uvci) DO NOTHING`,
			r.UVCI, string(r.Reason), micros(r.RevokedAt), r.RevokedBy, nonNilBlob(r.KID), string(r.Environment),
			micros(r.ExpiresAt), nonNilBlob(r.UCIHash), nonNilBlob(r.CountryCodeUCIHash), nonNilBlob(r.SignatureHash))
		switch err := inserted(res, err); {
		case err == nil:
			created = true
		case !errors.Is(err, errNothingInserted):
			return err
		}
		if stored, err = scanRevocation(tx.QueryRowContext(ctx, `SELECT `+revocationColumns+` FROM revocations WHERE uvci = ?`, r.UVCI)); err != nil {
			return classify(err)
		}
		if !created {
			ev := a.ev
			ev.Outcome, ev.Notes = issuer.OutcomeReplayed, append(slices.Clone(ev.Notes), issuer.NoteAlreadyRevoked)
			if a, err = prepareAudit(ev); err != nil {
				return err
			}
		}
		return s.stmts.insertAudit(ctx, tx, a)
	})
	if err != nil {
		return issuer.Revocation{}, false, fmt.Errorf("revoke %s: %w", r.UVCI, err)
	}
	return stored, created, nil
}

// Revocation returns the revocation of a UVCI.
func (s *Store) Revocation(ctx context.Context, uvci string) (issuer.Revocation, error) {
	if s.closed.Load() {
		return issuer.Revocation{}, fmt.Errorf("revocation of %s: %w", uvci, errClosed)
	}
	r, err := scanRevocation(s.reader.QueryRowContext(ctx, `SELECT `+revocationColumns+` FROM revocations WHERE uvci = ?`, uvci))
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
	list, err := json.Marshal(uvcis)
	if err != nil {
		return nil, fmt.Errorf("revoked among %d certificates: %w", len(uvcis), err)
	}
	found, err := queryAll(ctx, s, func(row scanner) (string, error) {
		var u string
		return u, row.Scan(&u)
	}, `SELECT uvci FROM revocations WHERE uvci IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return nil, fmt.Errorf("revoked among %d certificates: %w", len(uvcis), err)
	}
	for _, u := range found {
		revoked[u] = true
	}
	return revoked, nil
}

// Revocations lists the revocations of certificates expiring after the time.
func (s *Store) Revocations(ctx context.Context, expiringAfter time.Time) ([]issuer.Revocation, error) {
	list, err := queryAll(ctx, s, scanRevocation, `SELECT `+revocationColumns+` FROM revocations
		WHERE expires_at > ? ORDER BY revoked_at, uvci`, micros(expiringAfter))
	if err != nil {
		return nil, fmt.Errorf("revocations: %w", err)
	}
	return list, nil
}

func scanRevocation(row scanner) (issuer.Revocation, error) {
	var r issuer.Revocation
	var reason, env string
	var revoked, expires int64
	err := row.Scan(&r.UVCI, &reason, &revoked, &r.RevokedBy, &r.KID, &env, &expires,
		&r.UCIHash, &r.CountryCodeUCIHash, &r.SignatureHash)
	if err != nil {
		return issuer.Revocation{}, err
	}
	r.Reason, r.Environment = issuer.RevocationReason(reason), issuer.Environment(env)
	r.RevokedAt, r.ExpiresAt = fromMicros(revoked), fromMicros(expires)
	return r, nil
}

// RecordSigningCertificate remembers a DSC; a known one is left as it is.
func (s *Store) RecordSigningCertificate(ctx context.Context, c issuer.SigningCertificate) error {
	if len(c.Certificate) == 0 {
		return errors.New("record signing certificate: no certificate")
	}
	sum := sha256.Sum256(c.Certificate)
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO signing_certificates (thumbprint, environment, certificate, first_used_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (thumbprint) DO NOTHING`, sum[:], string(c.Environment), c.Certificate, micros(c.FirstUsedAt))
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("record signing certificate: %w", err)
	}
	return nil
}

// SigningCertificates lists the remembered DSCs, first used first.
func (s *Store) SigningCertificates(ctx context.Context) ([]issuer.SigningCertificate, error) {
	list, err := queryAll(ctx, s, func(row scanner) (issuer.SigningCertificate, error) {
		var c issuer.SigningCertificate
		var env string
		var first int64
		if err := row.Scan(&env, &c.Certificate, &first); err != nil {
			return issuer.SigningCertificate{}, err
		}
		c.Environment, c.FirstUsedAt = issuer.Environment(env), fromMicros(first)
		return c, nil
	}, `SELECT environment, certificate, first_used_at FROM signing_certificates ORDER BY first_used_at, thumbprint`)
	if err != nil {
		return nil, fmt.Errorf("signing certificates: %w", err)
	}
	return list, nil
}
