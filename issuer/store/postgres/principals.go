package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sedcc/dcc/issuer"
)

const principalColumns = `id, name, role, environment, kinds, created_at, disabled_at`

// CreatePrincipal stores a new principal; its id and name must both be unused.
func (s *Store) CreatePrincipal(ctx context.Context, p issuer.Principal) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	kinds := make([]string, len(p.Kinds))
	for i, k := range p.Kinds {
		kinds[i] = string(k)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO principals (`+principalColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		p.ID, p.Name, string(p.Role), string(p.Environment), kinds, p.CreatedAt, p.DisabledAt)
	if err != nil {
		return fmt.Errorf("create principal %s: %w", p.ID, classify(err))
	}
	return nil
}

// Principal returns the principal with the given id.
func (s *Store) Principal(ctx context.Context, id string) (issuer.Principal, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+principalColumns+` FROM principals WHERE id = $1`, id)
	p, err := collectOne(rows, err, scanPrincipal)
	if err != nil {
		return issuer.Principal{}, fmt.Errorf("principal %s: %w", id, classify(err))
	}
	return p, nil
}

// PrincipalByName returns the principal with the given name.
func (s *Store) PrincipalByName(ctx context.Context, name string) (issuer.Principal, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+principalColumns+` FROM principals WHERE name = $1`, name)
	p, err := collectOne(rows, err, scanPrincipal)
	if err != nil {
		return issuer.Principal{}, fmt.Errorf("principal named %q: %w", name, classify(err))
	}
	return p, nil
}

// ListPrincipals returns every principal, ordered by name.
func (s *Store) ListPrincipals(ctx context.Context) ([]issuer.Principal, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+principalColumns+` FROM principals ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list principals: %w", classify(err))
	}
	list, err := pgx.CollectRows(rows, scanPrincipal)
	if err != nil {
		return nil, fmt.Errorf("list principals: %w", classify(err))
	}
	return list, nil
}

func scanPrincipal(row pgx.CollectableRow) (issuer.Principal, error) {
	var p issuer.Principal
	var role, env string
	var kinds []string
	if err := row.Scan(&p.ID, &p.Name, &role, &env, &kinds, &p.CreatedAt, &p.DisabledAt); err != nil {
		return issuer.Principal{}, err
	}
	p.Role, p.Environment = issuer.Role(role), issuer.Environment(env)
	for _, k := range kinds {
		p.Kinds = append(p.Kinds, issuer.Kind(k))
	}
	p.CreatedAt, p.DisabledAt = p.CreatedAt.UTC(), utcPtr(p.DisabledAt)
	return p, nil
}

const keyColumns = `id, principal_id, hash, created_at, expires_at, revoked_at`

// CreateAPIKey stores a new key of an existing principal (issuer.ErrNotFound otherwise).
func (s *Store) CreateAPIKey(ctx context.Context, k issuer.APIKey) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.PrincipalID, k.Hash, k.CreatedAt, k.ExpiresAt, k.RevokedAt)
	if err != nil {
		return fmt.Errorf("create api key %s of principal %s: %w", k.ID, k.PrincipalID, classify(err))
	}
	return nil
}

// APIKey returns the key with the given public id.
func (s *Store) APIKey(ctx context.Context, id string) (issuer.APIKey, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = $1`, id)
	k, err := collectOne(rows, err, scanKey)
	if err != nil {
		return issuer.APIKey{}, fmt.Errorf("api key %s: %w", id, classify(err))
	}
	return k, nil
}

// ListAPIKeys returns a principal's keys, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context, principalID string) ([]issuer.APIKey, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE principal_id = $1
		ORDER BY created_at, id`, principalID)
	if err != nil {
		return nil, fmt.Errorf("list api keys of %s: %w", principalID, classify(err))
	}
	list, err := pgx.CollectRows(rows, scanKey)
	if err != nil {
		return nil, fmt.Errorf("list api keys of %s: %w", principalID, classify(err))
	}
	return list, nil
}

// ExpireAPIKey sets the time a key stops being valid.
func (s *Store) ExpireAPIKey(ctx context.Context, id string, at time.Time) error {
	return s.updateKey(ctx, "expire", `UPDATE api_keys SET expires_at = LEAST(COALESCE(expires_at, $2), $2) WHERE id = $1`, id, at)
}

// RevokeAPIKey ends a key at once. Revoking a revoked key keeps the first revocation time.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	return s.updateKey(ctx, "revoke", `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`, id, at)
}

func (s *Store) updateKey(ctx context.Context, op, sql, id string, at time.Time) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, sql, id, at)
	if err != nil {
		return fmt.Errorf("%s api key %s: %w", op, id, classify(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s api key %s: %w", op, id, issuer.ErrNotFound)
	}
	return nil
}

func scanKey(row pgx.CollectableRow) (issuer.APIKey, error) {
	var k issuer.APIKey
	if err := row.Scan(&k.ID, &k.PrincipalID, &k.Hash, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt); err != nil {
		return issuer.APIKey{}, err
	}
	k.Hash = nilIfEmpty(k.Hash)
	k.CreatedAt, k.ExpiresAt, k.RevokedAt = k.CreatedAt.UTC(), utcPtr(k.ExpiresAt), utcPtr(k.RevokedAt)
	return k, nil
}
