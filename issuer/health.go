package issuer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/registry"
)

// ErrSigningUnavailable is returned when an environment's signer cannot sign now (its DSC is not
// yet valid or has expired, or its key does not sign). Issuance answers 503 signing-unavailable.
var ErrSigningUnavailable = errors.New("signing unavailable")

// The health of the issuer's dependencies has one owner, this file: readiness (/readyz), the
// status page's signing light and the signing path itself all read SignerHealth, so that an
// expired DSC stops issuance, fails readiness and turns the status page red together.

// SignerHealth is one environment's signing state.
type SignerHealth struct {
	// Err is nil when the signer can sign now; else it wraps ErrSigningUnavailable.
	Err error
	// NotBefore and NotAfter are the DSC's validity, for the status page's expiry warning.
	NotBefore, NotAfter time.Time
	// RetryAfter is when to try again while Err is set.
	RetryAfter time.Duration
}

// Health is the state of the issuer's own dependencies, for readiness and the status page.
type Health struct {
	Store    error // nil when the store answers
	Signers  map[Environment]SignerHealth
	Register registry.State
}

// Ready reports whether the service can issue: store and every signer usable. The register does
// not count: while it is down the birth-date fallback still issues.
func (h Health) Ready() bool {
	if h.Store != nil {
		return false
	}
	for _, sh := range h.Signers {
		if sh.Err != nil {
			return false
		}
	}
	return true
}

// Health checks the store, the signers (validity and a probe signature) and reads the register's
// state, which its own probe keeps current.
func (s *Service) Health(ctx context.Context) Health {
	h := Health{Store: s.store.Ping(ctx), Signers: s.SigningHealth(), Register: s.RegisterState()}
	return h
}

// SigningHealth checks every environment's signer: its DSC's validity now and a probe signature.
func (s *Service) SigningHealth() map[Environment]SignerHealth {
	out := make(map[Environment]SignerHealth, len(s.signers))
	for env, sg := range s.signers {
		sh := s.signerValidity(env, sg)
		if sh.Err == nil {
			if err := sg.Check(); err != nil {
				sh.Err = fmt.Errorf("%w: %s key does not sign: %w", ErrSigningUnavailable, env, err)
				sh.RetryAfter = s.cfg.SigningRetryAfter
			}
		}
		out[env] = sh
	}
	return out
}

// signerValidity checks a signer's DSC against the clock (cheap: no signature).
func (s *Service) signerValidity(env Environment, sg Signer) SignerHealth {
	nb, na := sg.Validity()
	sh := SignerHealth{NotBefore: nb, NotAfter: na}
	now := s.now()
	switch {
	case now.Before(nb):
		sh.Err = fmt.Errorf("%w: the %s DSC is valid from %s", ErrSigningUnavailable, env, nb.UTC().Format(time.RFC3339))
		sh.RetryAfter = min(max(nb.Sub(now), time.Second), s.cfg.SigningRetryAfter)
	case !now.Before(na):
		sh.Err = fmt.Errorf("%w: the %s DSC expired at %s", ErrSigningUnavailable, env, na.UTC().Format(time.RFC3339))
		sh.RetryAfter = s.cfg.SigningRetryAfter
	}
	return sh
}

// signingUnavailable is the answer when an environment cannot sign, with the cause.
func signingUnavailable(sh SignerHealth) error {
	p := problem.New(problem.CodeSigningUnavailable, "", "").WithRetryAfter(sh.RetryAfter)
	return fmt.Errorf("%w: %w", p, sh.Err)
}

// RegisterState is the population register's state; "up" when the register cannot tell.
func (s *Service) RegisterState() registry.State {
	if r, ok := s.register.(registry.Reporter); ok {
		return r.State()
	}
	return registry.State{Status: "up"}
}
