package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sedcc/dcc/issuer"
)

const principalColumns = `id, name, role, environment, kinds, created_at, disabled_at`

// CreatePrincipal stores a new principal; its id and name must both be unused.
func (s *Store) CreatePrincipal(ctx context.Context, p issuer.Principal) error {
	kinds, err := jsonList(p.Kinds)
	if err != nil {
		return fmt.Errorf("create principal %s: kinds: %w", p.ID, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO principals (`+principalColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.Name, string(p.Role), string(p.Environment), kinds, micros(p.CreatedAt), microsPtr(p.DisabledAt))
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("create principal %s: %w", p.ID, err)
	}
	return nil
}

// Principal returns the principal with the given id.
func (s *Store) Principal(ctx context.Context, id string) (issuer.Principal, error) {
	p, err := s.onePrincipal(ctx, `id = ?`, id)
	if err != nil {
		return issuer.Principal{}, fmt.Errorf("principal %s: %w", id, err)
	}
	return p, nil
}

// PrincipalByName returns the principal with the given name.
func (s *Store) PrincipalByName(ctx context.Context, name string) (issuer.Principal, error) {
	p, err := s.onePrincipal(ctx, `name = ?`, name)
	if err != nil {
		return issuer.Principal{}, fmt.Errorf("principal named %q: %w", name, err)
	}
	return p, nil
}

func (s *Store) onePrincipal(ctx context.Context, where string, arg any) (issuer.Principal, error) {
	if s.closed.Load() {
		return issuer.Principal{}, errClosed
	}
	return scanPrincipal(s.reader.QueryRowContext(ctx, `SELECT `+principalColumns+` FROM principals WHERE `+where, arg))
}

// ListPrincipals returns every principal, ordered by name.
func (s *Store) ListPrincipals(ctx context.Context) ([]issuer.Principal, error) {
	list, err := queryAll(ctx, s, scanPrincipal, `SELECT `+principalColumns+` FROM principals ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list principals: %w", err)
	}
	return list, nil
}

func scanPrincipal(row scanner) (issuer.Principal, error) {
	var p issuer.Principal
	var role, env, kinds string
	var created int64
	var disabled sql.NullInt64
	if err := row.Scan(&p.ID, &p.Name, &role, &env, &kinds, &created, &disabled); err != nil {
		return issuer.Principal{}, classify(err)
	}
	var err error
	if p.Kinds, err = parseList[issuer.Kind](kinds); err != nil {
		return issuer.Principal{}, fmt.Errorf("principal %s kinds: %w", p.ID, err)
	}
	p.Role, p.Environment = issuer.Role(role), issuer.Environment(env)
	p.CreatedAt, p.DisabledAt = fromMicros(created), timePtr(disabled)
	return p, nil
}

const keyColumns = `id, principal_id, hash, created_at, expires_at, revoked_at`

// CreateAPIKey stores a new key of an existing principal (issuer.ErrNotFound otherwise).
func (s *Store) CreateAPIKey(ctx context.Context, k issuer.APIKey) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			k.ID, k.PrincipalID, nonNilBlob(k.Hash), micros(k.CreatedAt), microsPtr(k.ExpiresAt), microsPtr(k.RevokedAt))
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("create api key %s of principal %s: %w", k.ID, k.PrincipalID, err)
	}
	return nil
}

// APIKey returns the key with the given public id.
func (s *Store) APIKey(ctx context.Context, id string) (issuer.APIKey, error) {
	if s.closed.Load() {
		return issuer.APIKey{}, fmt.Errorf("api key %s: %w", id, errClosed)
	}
	k, err := scanKey(s.reader.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
	if err != nil {
		return issuer.APIKey{}, fmt.Errorf("api key %s: %w", id, err)
	}
	return k, nil
}

// ListAPIKeys returns a principal's keys, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context, principalID string) ([]issuer.APIKey, error) {
	list, err := queryAll(ctx, s, scanKey, `SELECT `+keyColumns+` FROM api_keys WHERE principal_id = ?
		ORDER BY created_at, id`, principalID)
	if err != nil {
		return nil, fmt.Errorf("list api keys of %s: %w", principalID, err)
	}
	return list, nil
}

// ExpireAPIKey sets the time a key stops being valid; an earlier expiry already set stays.
func (s *Store) ExpireAPIKey(ctx context.Context, id string, at time.Time) error {
	return s.updateKey(ctx, "expire", `UPDATE api_keys SET expires_at = MIN(COALESCE(expires_at, ?1), ?1) WHERE id = ?2`, id, at)
}

// RevokeAPIKey ends a key at once. Revoking a revoked key keeps the first revocation time.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	return s.updateKey(ctx, "revoke", `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, id, at)
}

func (s *Store) updateKey(ctx context.Context, op, query, id string, at time.Time) error {
	if err := s.updateOne(ctx, query, micros(at), id); err != nil {
		return fmt.Errorf("%s api key %s: %w", op, id, err)
	}
	return nil
}

// updateOne runs an UPDATE in a write transaction: ErrNotFound when it matched no row.
func (s *Store) updateOne(ctx context.Context, query string, args ...any) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return classify(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return issuer.ErrNotFound
		}
		return nil
	})
}

func scanKey(row scanner) (issuer.APIKey, error) {
	var k issuer.APIKey
	var created int64
	var expires, revoked sql.NullInt64
	if err := row.Scan(&k.ID, &k.PrincipalID, &k.Hash, &created, &expires, &revoked); err != nil {
		return issuer.APIKey{}, classify(err)
	}
	k.Hash = nilIfEmpty(k.Hash)
	k.CreatedAt, k.ExpiresAt, k.RevokedAt = fromMicros(created), timePtr(expires), timePtr(revoked)
	return k, nil
}
