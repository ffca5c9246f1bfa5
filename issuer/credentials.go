package issuer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/sedcc/dcc/fhir/problem"
)

// Bearer keys look like "dcc_<key id>_<secret>": the id names the stored key, the secret has
// 256 bits of entropy. Only SHA-256 of the secret is stored. With that much entropy a slow
// password hash buys nothing, and SHA-256 keeps verification in microseconds (docs/security.md).
const (
	tokenPrefix  = "dcc_"
	keyIDBytes   = 10 // 16 base32 characters
	secretBytes  = 32
	keyCacheSize = 4096
)

var keyIDEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// credentialRetryAfter is the Retry-After when a credential cannot be checked for want of the store.
const credentialRetryAfter = 5 * time.Second

// Credentials creates, checks, rotates and revokes API keys.
type Credentials struct {
	store CredentialStore
	now   func() time.Time
	// cache holds verified keys and their principals for a short time, so that a request costs a
	// hash and a map look-up, not a store round trip. Revocation takes effect within its TTL.
	cache *expirable.LRU[string, cachedKey]
	// unknown remembers key ids the store does not have, apart from cache, so that a flood of
	// made-up ids cannot push real keys out of it.
	unknown *expirable.LRU[string, cachedKey]
	// certs holds client-certificate bindings (and unknown fingerprints) by fingerprint, for the
	// same time as cache.
	certs *expirable.LRU[string, cachedCert]
}

// cachedKey is a key as last read from the store; unknown records that the store had none, so
// probing unknown key ids costs what probing wrong secrets does.
type cachedKey struct {
	key       APIKey
	principal Principal // loaded once the secret has matched
	unknown   bool
}

// NewCredentials builds the credential service. cacheTTL bounds how long a revoked key may keep
// working in a running server (0 disables the cache).
func NewCredentials(store CredentialStore, clock func() time.Time, cacheTTL time.Duration) *Credentials {
	if clock == nil {
		clock = time.Now
	}
	c := &Credentials{store: store, now: clock}
	if cacheTTL > 0 {
		c.cache = expirable.NewLRU[string, cachedKey](keyCacheSize, nil, cacheTTL)
		c.unknown = expirable.NewLRU[string, cachedKey](keyCacheSize, nil, cacheTTL)
		c.certs = expirable.NewLRU[string, cachedCert](keyCacheSize, nil, cacheTTL)
	}
	return c
}

// NewPrincipal describes a party to create.
type NewPrincipal struct {
	Name        string
	Role        Role
	Environment Environment
	Kinds       []Kind
}

// Add creates a principal and its first key, returning the bearer token (shown once).
func (c *Credentials) Add(ctx context.Context, np NewPrincipal) (Principal, string, error) {
	if strings.TrimSpace(np.Name) == "" {
		return Principal{}, "", errors.New("a name is required")
	}
	switch np.Role {
	case RoleProvider:
		if np.Environment != Sandbox && np.Environment != Production {
			return Principal{}, "", fmt.Errorf("environment must be sandbox or production, not %q", np.Environment)
		}
		if len(np.Kinds) == 0 {
			return Principal{}, "", errors.New("a provider needs at least one kind (test, recovery, vaccination)")
		}
		for _, k := range np.Kinds {
			if k != KindTest && k != KindRecovery && k != KindVaccination {
				return Principal{}, "", fmt.Errorf("unknown kind %q (test, recovery, vaccination)", k)
			}
		}
	case RoleSupport, RoleSupportAdmin:
		np.Environment, np.Kinds = "", nil
	default:
		return Principal{}, "", fmt.Errorf("unknown role %q", np.Role)
	}
	if _, err := c.store.PrincipalByName(ctx, np.Name); err == nil {
		return Principal{}, "", fmt.Errorf("a principal named %q exists already", np.Name)
	} else if !errors.Is(err, ErrNotFound) {
		return Principal{}, "", fmt.Errorf("look up principal: %w", err)
	}
	id, err := randomID("p")
	if err != nil {
		return Principal{}, "", err
	}
	p := Principal{ID: id, Name: np.Name, Role: np.Role, Environment: np.Environment, Kinds: np.Kinds, CreatedAt: c.now().UTC()}
	if err := c.store.CreatePrincipal(ctx, p); err != nil {
		return Principal{}, "", fmt.Errorf("create principal: %w", err)
	}
	token, err := c.NewKey(ctx, p.ID)
	if err != nil {
		return Principal{}, "", err
	}
	return p, token, nil
}

// NewKey adds a key to an existing principal and returns its bearer token.
func (c *Credentials) NewKey(ctx context.Context, principalID string) (string, error) {
	raw := make([]byte, keyIDBytes+secretBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("random key: %w", err)
	}
	keyID := strings.ToLower(keyIDEncoding.EncodeToString(raw[:keyIDBytes]))
	secret := base64.RawURLEncoding.EncodeToString(raw[keyIDBytes:])
	sum := sha256.Sum256([]byte(secret))
	k := APIKey{ID: keyID, PrincipalID: principalID, Hash: sum[:], CreatedAt: c.now().UTC()}
	if err := c.store.CreateAPIKey(ctx, k); err != nil {
		return "", fmt.Errorf("store key: %w", err)
	}
	return tokenPrefix + keyID + "_" + secret, nil
}

// Rotate issues a new key for the principal owning keyID and lets the old key work for overlap.
func (c *Credentials) Rotate(ctx context.Context, keyID string, overlap time.Duration) (string, error) {
	k, err := c.store.APIKey(ctx, keyID)
	if err != nil {
		return "", fmt.Errorf("key %s: %w", keyID, err)
	}
	if k.RevokedAt != nil {
		return "", fmt.Errorf("key %s is revoked", keyID)
	}
	if k.ExpiresAt != nil && !c.now().Before(*k.ExpiresAt) {
		return "", fmt.Errorf("key %s has expired; create a new one with provider add or rotate a key that is still valid", keyID)
	}
	// Expire the old key first: should the new key then fail, the old one still works until the
	// overlap ends and the rotation can be repeated; never a valid key nobody holds the token of.
	if err := c.store.ExpireAPIKey(ctx, keyID, c.now().Add(overlap).UTC()); err != nil {
		return "", fmt.Errorf("expire key %s: %w", keyID, err)
	}
	c.forget(keyID)
	token, err := c.NewKey(ctx, k.PrincipalID)
	if err != nil {
		return "", err
	}
	return token, nil
}

// Revoke ends a key at once.
func (c *Credentials) Revoke(ctx context.Context, keyID string) error {
	if err := c.store.RevokeAPIKey(ctx, keyID, c.now().UTC()); err != nil {
		return fmt.Errorf("revoke key %s: %w", keyID, err)
	}
	c.forget(keyID)
	return nil
}

func (c *Credentials) forget(keyID string) {
	if c.cache != nil {
		c.cache.Remove(keyID)
		c.unknown.Remove(keyID)
	}
}

// unknownHash is compared against when a key id is unknown, so that an unknown key and a wrong
// secret cost the same work.
var unknownHash = sha256.Sum256([]byte("no such key"))

// unauthenticated is the one answer to every kind of bad credential alike.
func unauthenticated() problem.List {
	return problem.New(problem.CodeUnauthenticated, "Authorization", "")
}

// Authenticate checks a bearer token and returns its principal. A missing, malformed, unknown,
// expired or revoked key gets the same answer, with no detail about which, and an unknown key id
// costs the same work as a wrong secret: one store read the first time (remembered in the cache,
// found or not), then a hash and a constant-time comparison.
func (c *Credentials) Authenticate(ctx context.Context, token string) (Principal, error) {
	keyID, secret, ok := splitToken(token)
	sum := sha256.Sum256([]byte(secret))
	if !ok {
		subtle.ConstantTimeCompare(sum[:], unknownHash[:])
		return Principal{}, unauthenticated()
	}
	var ck cachedKey
	var hit bool
	if c.cache != nil {
		if ck, hit = c.cache.Get(keyID); !hit {
			ck, hit = c.unknown.Get(keyID)
		}
	}
	if !hit {
		k, err := c.store.APIKey(ctx, keyID)
		switch {
		case errors.Is(err, ErrNotFound):
			ck = cachedKey{unknown: true}
		case err != nil:
			return Principal{}, storeUnavailable(fmt.Errorf("load key: %w", err), credentialRetryAfter)
		default:
			ck = cachedKey{key: k}
		}
		c.remember(keyID, ck)
	}
	want := ck.key.Hash
	if ck.unknown {
		want = unknownHash[:]
	}
	if subtle.ConstantTimeCompare(sum[:], want) != 1 || ck.unknown {
		return Principal{}, unauthenticated()
	}
	now := c.now()
	if ck.key.RevokedAt != nil || ck.key.ExpiresAt != nil && !now.Before(*ck.key.ExpiresAt) {
		return Principal{}, unauthenticated()
	}
	if ck.principal.ID == "" {
		p, err := c.store.Principal(ctx, ck.key.PrincipalID)
		if err != nil {
			return Principal{}, storeUnavailable(fmt.Errorf("load principal of key %s: %w", keyID, err), credentialRetryAfter)
		}
		ck.principal = p
		c.remember(keyID, ck)
	}
	if ck.principal.DisabledAt != nil {
		return Principal{}, unauthenticated()
	}
	return ck.principal, nil
}

func (c *Credentials) remember(keyID string, ck cachedKey) {
	switch {
	case c.cache == nil:
	case ck.unknown:
		c.unknown.Add(keyID, ck)
	default:
		c.cache.Add(keyID, ck)
	}
}

func splitToken(token string) (keyID, secret string, ok bool) {
	rest, found := strings.CutPrefix(token, tokenPrefix)
	if !found {
		return "", token, false
	}
	keyID, secret, found = strings.Cut(rest, "_")
	if !found || len(keyID) != 16 || len(secret) != 43 {
		return "", secret, false
	}
	return keyID, secret, true
}

func randomID(prefix string) (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return prefix + "_" + strings.ToLower(keyIDEncoding.EncodeToString(b)), nil
}
