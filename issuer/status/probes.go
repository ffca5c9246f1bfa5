package status

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/registry"
)

// Names of the dependencies the service watches.
const (
	DependencyStore    = "store"
	DependencySigning  = "signing"
	DependencyRegister = "register"
)

// Pinger is what the store probe needs.
type Pinger interface {
	Ping(ctx context.Context) error
}

// StoreProbe is green while the store answers a ping and red otherwise. The message is for the
// public; the error itself is not shown.
func StoreProbe(p Pinger) Probe {
	return func(ctx context.Context) (Light, string) {
		if err := p.Ping(ctx); err != nil {
			return Red, "The certificate store does not answer: certificates can be neither issued nor fetched."
		}
		return Green, "The certificate store answers."
	}
}

// SigningHealth is what the signing probe reads: the issuer's own signing state, the same that
// readiness and issuance read (*issuer.Service has it).
type SigningHealth interface {
	SigningHealth() map[issuer.Environment]issuer.SignerHealth
}

// DefaultExpiryWarning is how long before a DSC expires the signing probe turns yellow.
const DefaultExpiryWarning = 30 * 24 * time.Hour

// SigningProbe shows the issuer's signing state: red when an environment cannot sign (its DSC
// not yet valid or expired, or its key failing a probe signature), yellow when a DSC expires
// within warn (DefaultExpiryWarning when 0), green otherwise.
func SigningProbe(h SigningHealth, clock func() time.Time, warn time.Duration) Probe {
	if warn <= 0 {
		warn = DefaultExpiryWarning
	}
	return func(context.Context) (Light, string) {
		hs := h.SigningHealth()
		if len(hs) == 0 {
			return Red, "No signing key is configured: certificates cannot be signed."
		}
		envs := make([]string, 0, len(hs))
		for env := range hs {
			envs = append(envs, string(env))
		}
		slices.Sort(envs)
		now := clock()
		light, message := Green, "Every signing key signs and its certificate is valid."
		for _, env := range envs {
			sh := hs[issuer.Environment(env)]
			if sh.Err != nil {
				switch {
				case now.Before(sh.NotBefore):
					return Red, fmt.Sprintf("The %s signing certificate is not valid yet: %s certificates cannot be signed.", env, env)
				case !now.Before(sh.NotAfter):
					return Red, fmt.Sprintf("The %s signing certificate has expired: %s certificates cannot be signed.", env, env)
				}
				return Red, fmt.Sprintf("The %s signing key does not sign: %s certificates cannot be signed.", env, env)
			}
			if light == Green && sh.NotAfter.Sub(now) < warn {
				light = Yellow
				message = fmt.Sprintf("The %s signing certificate expires on %s and must be renewed.", env, sh.NotAfter.UTC().Format(time.DateOnly))
			}
		}
		return light, message
	}
}

// RegisterProbe reports the population register's state: "up" is green, "degraded" yellow,
// "down" red. A register that can be probed (registry.Prober) is asked first, so the state
// does not wait for a failing request to change. The register being down does not stop
// issuance: the birth-date fallback applies, which is why the monitor treats the register as
// non-critical.
func RegisterProbe(r registry.Reporter) Probe {
	return func(ctx context.Context) (Light, string) {
		if p, ok := r.(registry.Prober); ok {
			_ = p.Probe(ctx) // its outcome is in State
		}
		switch r.State().Status {
		case "up":
			return Green, "The population register answers."
		case "degraded":
			return Yellow, "The population register answers slowly or fails at times; look-ups are retried."
		case "down":
			return Red, "The population register does not answer: certificates are issued from the name and birth date the provider sends (birth-date fallback)."
		}
		return Yellow, "The population register reports an unknown state."
	}
}
