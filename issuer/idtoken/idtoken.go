// Package idtoken verifies the citizens' OpenID Connect tokens and yields the personnummer they
// carry. Signatures are checked against the identity provider's JWKS (cached, refetched on an
// unknown kid at a bounded rate); issuer, audience and expiry (with a small skew) by
// github.com/coreos/go-oidc; the personnummer claim is validated like any personnummer.
package idtoken

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4/jwt"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/sedcc/dcc/registry/pnr"
)

// DefaultPNRClaim is the claim holding the personnummer in the Swedish OIDC profile.
const DefaultPNRClaim = "https://id.oidc.se/claim/personalIdentityNumber"

// Defaults of Options.
const (
	DefaultSkew       = 30 * time.Second
	DefaultMinRefresh = 10 * time.Second
	DefaultMaxAge     = time.Hour
	DefaultCacheSize  = 10000
)

// Options configure a Verifier.
type Options struct {
	Issuer   string // "iss" required
	Audience string // "aud" an access token must carry
	// ClientID is the "aud" of ID tokens from the service's own sign-in (the web page);
	// empty: ID tokens are not accepted.
	ClientID string
	// JWKSURL is where the provider's keys are (default Issuer + "/jwks").
	JWKSURL  string
	PNRClaim string // DefaultPNRClaim
	// Skew is how long past its expiry a token is still accepted (DefaultSkew).
	Skew time.Duration
	// MinRefresh is the shortest time between two fetches of the JWKS (DefaultMinRefresh);
	// MaxAge the age at which the cached set is fetched again (DefaultMaxAge).
	MinRefresh, MaxAge time.Duration
	// CacheSize is how many verified access tokens are remembered (DefaultCacheSize; negative
	// turns the cache off), so that a citizen's repeated requests cost one signature check.
	CacheSize  int
	HTTPClient *http.Client
	Clock      func() time.Time
}

// Reason says why a token was refused, for the RFC 6750 answer and the logs.
type Reason string

// Reasons of refusal.
const (
	Missing     Reason = "missing"
	Malformed   Reason = "malformed"
	Expired     Reason = "expired"
	OtherIssuer Reason = "other-issuer"
	Audience    Reason = "audience"
	UnknownKey  Reason = "unknown-key"
	Signature   Reason = "signature"
	NoIdentity  Reason = "no-personnummer"
	Nonce       Reason = "nonce"
	// Unavailable: the provider's keys cannot be had; the token may well be good.
	Unavailable Reason = "idp-unavailable"
)

// Error is a refused token.
type Error struct {
	Reason Reason
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "token refused: " + string(e.Reason)
	}
	return "token refused: " + string(e.Reason) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Citizen is who a verified token names.
type Citizen struct {
	PNR pnr.Number
	// Subject is the provider's "sub"; Expires the token's expiry.
	Subject string
	Expires time.Time
	// Name is the token's "name" claim, when it has one (for display only).
	Name string
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	o      Options
	keys   *keySet
	access *oidc.IDTokenVerifier
	id     *oidc.IDTokenVerifier
	// verified remembers access tokens that passed every check, by the SHA-256 of the token:
	// a token's signature, issuer and audience cannot change, so a repeat needs only the expiry
	// checked again.
	verified *lru.Cache[[sha256.Size]byte, Citizen]
}

// New builds a Verifier. It fetches nothing until the first token arrives, so the service can
// start before its identity provider.
func New(o Options) (*Verifier, error) {
	if o.Issuer == "" {
		return nil, errors.New("idtoken: no issuer")
	}
	if o.Audience == "" {
		return nil, errors.New("idtoken: no audience")
	}
	o.JWKSURL = cmp.Or(o.JWKSURL, strings.TrimRight(o.Issuer, "/")+"/jwks")
	o.PNRClaim = cmp.Or(o.PNRClaim, DefaultPNRClaim)
	o.Skew = cmp.Or(o.Skew, DefaultSkew)
	o.MinRefresh = cmp.Or(o.MinRefresh, DefaultMinRefresh)
	o.MaxAge = cmp.Or(o.MaxAge, DefaultMaxAge)
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	o.CacheSize = cmp.Or(o.CacheSize, DefaultCacheSize)
	ks := &keySet{url: o.JWKSURL, client: o.HTTPClient, now: o.Clock, minRefresh: o.MinRefresh, maxAge: o.MaxAge}
	algs := make([]string, len(Algorithms))
	for i, a := range Algorithms {
		algs[i] = string(a)
	}
	// Expiry is checked against a clock running Skew behind, which accepts a token up to Skew
	// after its exp (a small disagreement between the provider's clock and ours).
	skewed := func() time.Time { return o.Clock().Add(-o.Skew) }
	v := &Verifier{o: o, keys: ks,
		access: oidc.NewVerifier(o.Issuer, ks, &oidc.Config{ClientID: o.Audience, SupportedSigningAlgs: algs, Now: skewed})}
	if o.ClientID != "" {
		v.id = oidc.NewVerifier(o.Issuer, ks, &oidc.Config{ClientID: o.ClientID, SupportedSigningAlgs: algs, Now: skewed})
	}
	if o.CacheSize > 0 {
		c, err := lru.New[[sha256.Size]byte, Citizen](o.CacheSize)
		if err != nil {
			return nil, fmt.Errorf("idtoken: cache: %w", err)
		}
		v.verified = c
	}
	return v, nil
}

// Verify checks a bearer (access) token and returns the citizen it names.
func (v *Verifier) Verify(ctx context.Context, raw string) (Citizen, error) {
	if v.verified == nil || raw == "" {
		return v.verify(ctx, v.access, raw, v.o.Audience, "")
	}
	key := sha256.Sum256([]byte(raw))
	if c, ok := v.verified.Get(key); ok {
		if v.o.Clock().Add(-v.o.Skew).After(c.Expires) {
			v.verified.Remove(key)
			return Citizen{}, &Error{Reason: Expired, Err: errors.New("token expired")}
		}
		return c, nil
	}
	c, err := v.verify(ctx, v.access, raw, v.o.Audience, "")
	if err == nil {
		v.verified.Add(key, c)
	}
	return c, err
}

// VerifyID checks an ID token from the service's own sign-in, with the nonce the sign-in sent.
func (v *Verifier) VerifyID(ctx context.Context, raw, nonce string) (Citizen, error) {
	if v.id == nil {
		return Citizen{}, &Error{Reason: Audience, Err: errors.New("no client id configured")}
	}
	if nonce == "" {
		return Citizen{}, &Error{Reason: Nonce, Err: errors.New("no nonce")}
	}
	return v.verify(ctx, v.id, raw, v.o.ClientID, nonce)
}

func (v *Verifier) verify(ctx context.Context, ov *oidc.IDTokenVerifier, raw, aud, nonce string) (Citizen, error) {
	if raw == "" {
		return Citizen{}, &Error{Reason: Missing}
	}
	if len(raw) > 16<<10 {
		return Citizen{}, &Error{Reason: Malformed, Err: errors.New("token longer than 16 KiB")}
	}
	tok, err := ov.Verify(ctx, raw)
	if err != nil {
		return Citizen{}, v.classify(raw, aud, err)
	}
	if nonce != "" && tok.Nonce != nonce {
		return Citizen{}, &Error{Reason: Nonce, Err: errors.New("nonce does not match the sign-in")}
	}
	var claims map[string]json.RawMessage
	if err := tok.Claims(&claims); err != nil {
		return Citizen{}, &Error{Reason: Malformed, Err: err}
	}
	var digits, name string
	if c, ok := claims[v.o.PNRClaim]; !ok || json.Unmarshal(c, &digits) != nil || digits == "" {
		return Citizen{}, &Error{Reason: NoIdentity, Err: fmt.Errorf("claim %s missing or not a string", v.o.PNRClaim)}
	}
	if c, ok := claims["name"]; ok {
		_ = json.Unmarshal(c, &name)
	}
	n, err := pnr.Parse(digits, pnr.Personnummer, v.o.Clock())
	if err != nil {
		// A samordningsnummer identifies a person as well.
		var sErr error
		n, sErr = pnr.Parse(digits, pnr.Samordningsnummer, v.o.Clock())
		if sErr != nil {
			return Citizen{}, &Error{Reason: NoIdentity, Err: fmt.Errorf("claim %s: %w", v.o.PNRClaim, err)}
		}
	}
	return Citizen{PNR: n, Subject: tok.Subject, Expires: tok.Expiry, Name: name}, nil
}

// classify names why go-oidc refused a token, reading its unverified header and claims (only
// to choose the words of the refusal; nothing unverified is trusted).
func (v *Verifier) classify(raw, aud string, err error) error {
	var ke *Error
	if errors.As(err, &ke) {
		return ke
	}
	parsed, pErr := jwt.ParseSigned(raw, Algorithms)
	if pErr != nil || len(parsed.Headers) != 1 {
		return &Error{Reason: Malformed, Err: err}
	}
	var c jwt.Claims
	if uErr := parsed.UnsafeClaimsWithoutVerification(&c); uErr != nil {
		return &Error{Reason: Malformed, Err: err}
	}
	var expired *oidc.TokenExpiredError
	switch {
	case c.Issuer != v.o.Issuer:
		return &Error{Reason: OtherIssuer, Err: err}
	case errors.Is(err, ErrKeysUnavailable) || strings.Contains(err.Error(), ErrKeysUnavailable.Error()):
		return &Error{Reason: Unavailable, Err: err}
	case !v.keys.Has(parsed.Headers[0].KeyID):
		return &Error{Reason: UnknownKey, Err: err}
	case errors.As(err, &expired):
		return &Error{Reason: Expired, Err: err}
	case !slices.Contains([]string(c.Audience), aud):
		return &Error{Reason: Audience, Err: err}
	}
	return &Error{Reason: Signature, Err: err}
}
