package status

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

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

// KeySigner is what the signing probe needs of a signer (hcert.Signer has both).
type KeySigner interface {
	// SignCWT signs a CWT claims set into a COSE_Sign1 message.
	SignCWT(cwt []byte) ([]byte, error)
	// Certificate is the signer's document signer certificate (DSC).
	Certificate() *x509.Certificate
}

// DefaultExpiryWarning is how long before a DSC expires the signing probe turns yellow.
const DefaultExpiryWarning = 30 * 24 * time.Hour

// probeCWT is the claims set the signing probe signs: an empty CBOR map. The signature is
// thrown away.
var probeCWT = []byte{0xa0}

// SigningProbe makes a test signature with each environment's key and checks its DSC's
// validity: red when a signature fails or a DSC is missing, not yet valid or expired; yellow
// when a DSC expires within warn (DefaultExpiryWarning when 0); green otherwise.
func SigningProbe(signers map[string]KeySigner, clock func() time.Time, warn time.Duration) Probe {
	if warn <= 0 {
		warn = DefaultExpiryWarning
	}
	envs := make([]string, 0, len(signers))
	for env := range signers {
		envs = append(envs, env)
	}
	slices.Sort(envs)
	return func(context.Context) (Light, string) {
		if len(envs) == 0 {
			return Red, "No signing key is configured: certificates cannot be signed."
		}
		now := clock()
		light, message := Green, "Every signing key signs and its certificate is valid."
		for _, env := range envs {
			s := signers[env]
			dsc := s.Certificate()
			switch {
			case dsc == nil:
				return Red, fmt.Sprintf("The %s signing key has no certificate: %s certificates cannot be signed.", env, env)
			case now.Before(dsc.NotBefore):
				return Red, fmt.Sprintf("The %s signing certificate is not valid yet: %s certificates cannot be signed.", env, env)
			case !now.Before(dsc.NotAfter):
				return Red, fmt.Sprintf("The %s signing certificate has expired: %s certificates cannot be signed.", env, env)
			}
			if _, err := s.SignCWT(probeCWT); err != nil {
				return Red, fmt.Sprintf("The %s signing key does not sign: %s certificates cannot be signed.", env, env)
			}
			if light == Green && dsc.NotAfter.Sub(now) < warn {
				light = Yellow
				message = fmt.Sprintf("The %s signing certificate expires on %s and must be renewed.", env, dsc.NotAfter.UTC().Format(time.DateOnly))
			}
		}
		return light, message
	}
}

// RegisterProbe reports the population register's own state: "up" is green, "degraded" yellow,
// "down" red. The register being down does not stop issuance: the birth-date fallback applies,
// which is why the monitor treats the register as non-critical.
func RegisterProbe(r registry.Reporter) Probe {
	return func(context.Context) (Light, string) {
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
