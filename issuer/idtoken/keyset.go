package idtoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// Errors of the key set, for the verifier to name what went wrong.
var (
	// ErrUnknownKey: the token's kid is not in the provider's JWKS, even after a refresh.
	ErrUnknownKey = errors.New("token signed with a key the identity provider does not publish")
	// ErrKeysUnavailable: the JWKS could not be fetched and no usable key is cached.
	ErrKeysUnavailable = errors.New("identity provider keys unavailable")
)

// Algorithms are the signature algorithms accepted.
var Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256, jose.PS256, jose.EdDSA}

const maxJWKSBytes = 1 << 20

// keySet is the provider's JWKS, fetched on first use, cached, and fetched again when a token
// names a kid it does not hold (a rotation) or when the copy is older than maxAge. Refetches are
// bounded: at most one every minRefresh, shared by all requests waiting for it, so a flood of
// tokens with made-up kids costs the provider one request per interval.
type keySet struct {
	url        string
	client     *http.Client
	now        func() time.Time
	minRefresh time.Duration
	maxAge     time.Duration
	group      singleflight.Group

	mu        sync.RWMutex
	keys      map[string]jose.JSONWebKey
	fetchedAt time.Time
	triedAt   time.Time
	lastErr   error
}

// VerifySignature implements oidc.KeySet.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, Algorithms)
	if err != nil {
		return nil, fmt.Errorf("malformed token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	key, ok, stale := k.lookup(kid)
	if !ok || stale {
		if err := k.refresh(ctx); err != nil && !ok {
			return nil, err
		}
		key, ok, _ = k.lookup(kid)
	}
	if !ok {
		return nil, ErrUnknownKey
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	return payload, nil
}

func (k *keySet) lookup(kid string) (key jose.JSONWebKey, ok, stale bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	key, ok = k.keys[kid]
	return key, ok, k.now().Sub(k.fetchedAt) > k.maxAge
}

// Has reports whether the cached set holds kid (no fetch).
func (k *keySet) Has(kid string) bool {
	_, ok, _ := k.lookup(kid)
	return ok
}

// refresh fetches the JWKS unless it was tried less than minRefresh ago. Its error says why no
// fresh set is available; the cached keys stay in use meanwhile.
func (k *keySet) refresh(ctx context.Context) error {
	k.mu.RLock()
	recent := !k.triedAt.IsZero() && k.now().Sub(k.triedAt) < k.minRefresh
	lastErr, empty := k.lastErr, len(k.keys) == 0
	k.mu.RUnlock()
	if recent {
		if lastErr != nil && empty {
			return fmt.Errorf("%w: %w", ErrKeysUnavailable, lastErr)
		}
		return nil
	}
	_, err, _ := k.group.Do("jwks", func() (any, error) {
		// The fetch belongs to every waiter, not to the first caller's request.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		keys, err := k.fetch(fctx)
		k.mu.Lock()
		defer k.mu.Unlock()
		k.triedAt = k.now()
		k.lastErr = err
		if err == nil {
			k.keys, k.fetchedAt = keys, k.triedAt
		}
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	return nil
}

func (k *keySet) fetch(ctx context.Context) (map[string]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("JWKS request: %w", err)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return nil, fmt.Errorf("read JWKS: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	keys := map[string]jose.JSONWebKey{}
	for _, key := range set.Keys {
		if key.Use != "" && key.Use != "sig" || !key.Valid() || !key.IsPublic() {
			continue
		}
		keys[key.KeyID] = key
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS holds no public signing key")
	}
	return keys, nil
}
