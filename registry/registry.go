// Package registry resolves a Swedish identity number to the person the population register
// holds: name, date of birth and the flags that change how a certificate may be handed out.
//
// The register answers facts; what to do when it cannot answer (the birth-date fallback) is the
// issuer's decision, not this package's.
package registry

import (
	"context"
	"errors"

	"github.com/sedcc/dcc/registry/pnr"
)

// Person is what the register knows about one identity number.
type Person struct {
	GivenName  string
	FamilyName string
	// BirthDate is the date of birth as YYYY-MM-DD.
	BirthDate string
	// Protected is set for persons with a protected identity (skyddad identitet): the service
	// issues, but never echoes address-like data.
	Protected bool
	// Deceased is set when the register records the person as deceased.
	Deceased bool
}

var (
	// ErrNotFound: the register answered and holds no such person.
	ErrNotFound = errors.New("person not found in the population register")
	// ErrRejected: the register answered that it does not accept this number (a malformed or
	// invalid number by its own rules); an answer about the number, not about the register.
	ErrRejected = errors.New("population register does not accept the number")
	// ErrUnavailable: the register could not answer (refused, timed out, circuit open, 5xx).
	ErrUnavailable = errors.New("population register unavailable")
)

// Outage reports whether err means the register could not answer for now (refused, timed out,
// 5xx, circuit breaker open): the condition the birth-date fallback exists for. A register that
// answered in a way the service cannot use (refused the service's credentials, a malformed
// answer) is not an outage: no fallback may hide it. Errors that say nothing more than
// ErrUnavailable count as outages.
func Outage(err error) bool {
	var o interface{ Outage() bool }
	if errors.As(err, &o) {
		return o.Outage()
	}
	return errors.Is(err, ErrUnavailable)
}

// Register looks persons up. Implementations return ErrNotFound or an error wrapping
// ErrUnavailable for the two conditions the issuer must tell apart.
type Register interface {
	Lookup(ctx context.Context, n pnr.Number) (Person, error)
}

// State is a register's health as the readiness probe, metrics and status page report it.
type State struct {
	// Status is "up", "degraded" or "down".
	Status string `json:"status"`
	// Breaker is the circuit breaker's state ("closed", "half-open", "open"), empty when the
	// register has none.
	Breaker string `json:"breaker,omitempty"`
	// Detail is a short operator-facing explanation, free of personal data.
	Detail string `json:"detail,omitempty"`
}

// Reporter is implemented by registers that can report their health.
type Reporter interface {
	State() State
}

// Prober is implemented by registers whose health can be checked apart from look-ups: Probe asks
// the register once, and State reflects the answer. Without it a register nobody asks stays "up"
// however long it has been gone. A nil error means the register answered.
type Prober interface {
	Probe(ctx context.Context) error
}
