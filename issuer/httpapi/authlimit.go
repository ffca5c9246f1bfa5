package httpapi

import (
	"crypto/x509"
	"math"
	"net/http"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
)

// AuthFailureLimit bounds failed authentications per client address: Burst failures at once, then
// Rate a second. Beyond it the address is answered 429 before any credential is looked at, so
// guessing keys (or flooding made-up key ids, each a store read the first time) costs the guesser
// time and the store nothing. A zero Rate disables the limit.
type AuthFailureLimit struct {
	Rate  float64
	Burst int
}

// authLimiter keeps one bucket of allowed failures per client address, in a bounded LRU so that a
// flood of addresses cannot grow memory without bound.
type authLimiter struct {
	lim AuthFailureLimit
	now func() time.Time

	mu      sync.Mutex
	buckets *lru.Cache[string, *rate.Limiter]
}

func newAuthLimiter(l AuthFailureLimit, now func() time.Time) *authLimiter {
	if l.Rate <= 0 {
		return nil
	}
	if l.Burst < 1 {
		l.Burst = 1
	}
	c, _ := lru.New[string, *rate.Limiter](100_000)
	return &authLimiter{lim: l, now: now, buckets: c}
}

func (a *authLimiter) bucket(addr string) *rate.Limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, ok := a.buckets.Get(addr)
	if !ok {
		b = rate.NewLimiter(rate.Limit(a.lim.Rate), a.lim.Burst)
		a.buckets.Add(addr, b)
	}
	return b
}

// blocked reports how long the address must wait when its failures are used up.
func (a *authLimiter) blocked(addr string) (time.Duration, bool) {
	if a == nil {
		return 0, false
	}
	b := a.bucket(addr)
	now := a.now()
	if b.TokensAt(now) >= 1 {
		return 0, false
	}
	missing := 1 - b.TokensAt(now)
	return time.Duration(missing / a.lim.Rate * float64(time.Second)), true
}

// failed spends one of the address's failures.
func (a *authLimiter) failed(addr string) {
	if a == nil {
		return
	}
	a.bucket(addr).AllowN(a.now(), 1)
}

// authenticate checks the request's credential, within the client address's allowance of
// failures. Every route that takes an API key goes through it. The credential is the bearer key
// when an Authorization header is sent; without one, a TLS client certificate the handshake
// verified against the configured client CAs, if it is bound to a principal. A request that sends
// both is judged by its bearer key alone, so a key never gains what its certificate has.
func (s *Server) authenticate(c echo.Context) (issuer.Principal, error) {
	addr := c.RealIP()
	if wait, blocked := s.authFails.blocked(addr); blocked {
		secs := time.Duration(math.Ceil(wait.Seconds())) * time.Second
		return issuer.Principal{}, problem.New(problem.CodeRateLimited, "",
			"Too many failed authentications from this address. Check the API key, wait for the time in Retry-After, then send again.").WithRetryAfter(secs)
	}
	var p issuer.Principal
	var err error
	if cert := verifiedClientCert(c.Request()); cert != nil && c.Request().Header.Get(echo.HeaderAuthorization) == "" {
		p, err = s.creds.AuthenticateCert(c.Request().Context(), cert)
	} else {
		p, err = s.creds.Authenticate(c.Request().Context(), bearer(c.Request()))
	}
	if err != nil {
		if l, ok := problem.As(err); ok && l.Class() == problem.ClassUnauthenticated {
			s.authFails.failed(addr)
		}
		return issuer.Principal{}, err
	}
	return p, nil
}

// verifiedClientCert is the client's leaf certificate when the TLS handshake verified its chain
// against the client CAs, nil otherwise (plain HTTP, no certificate, or one accepted unverified).
func verifiedClientCert(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	return r.TLS.PeerCertificates[0]
}

// bearerChallenge is the WWW-Authenticate value of a 401 (RFC 6750 section 3): the scheme and
// realm, and error="invalid_token" when the request carried a credential that did not
// authenticate. A request without one gets no error code, as the RFC asks.
func bearerChallenge(r *http.Request) string {
	const realm = `Bearer realm="dcc"`
	if r.Header.Get(echo.HeaderAuthorization) == "" {
		return realm
	}
	return realm + `, error="invalid_token", error_description="The API key is missing, malformed, unknown, expired or revoked."`
}
