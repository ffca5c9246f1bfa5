package issuer

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sedcc/dcc/signing/dcc/dccschema"
	"github.com/sedcc/dcc/signing/valueset"
)

// Revocations revokes certificates, publishes the trust list and the revocation list, and
// verifies HC1 strings for support staff and integrators. It is safe for concurrent use.
type Revocations struct {
	store      RevocationStore
	signers    map[Environment]Signer
	country    string
	catalogue  *valueset.Catalogue
	now        func() time.Time
	log        *slog.Logger
	newID      func() string
	retryAfter time.Duration
	// schema is the EU DCC schema verification checks payloads against, compiled on first use.
	schema func() (*dccschema.Schema, error)
}

// RevocationsOptions are the dependencies of Revocations.
type RevocationsOptions struct {
	Store   RevocationStore
	Signers map[Environment]Signer // the same signers the issuance service uses
	Country string                 // issuing country (CWT iss), default "SE"
	Values  *valueset.Catalogue
	Clock   func() time.Time
	Log     *slog.Logger
	// NewID returns a unique, time-ordered id for audit events.
	NewID func() string
	// StoreRetryAfter is the Retry-After of a store-unavailable answer (default 2s).
	StoreRetryAfter time.Duration
}

// NewRevocations checks the options and builds the service.
func NewRevocations(o RevocationsOptions) (*Revocations, error) {
	switch {
	case o.Store == nil:
		return nil, errors.New("revocations: no store")
	case len(o.Signers) == 0:
		return nil, errors.New("revocations: no signer")
	case o.Values == nil:
		return nil, errors.New("revocations: no value sets")
	case o.NewID == nil:
		return nil, errors.New("revocations: no id generator")
	}
	if o.Country == "" {
		o.Country = "SE"
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.StoreRetryAfter <= 0 {
		o.StoreRetryAfter = 2 * time.Second
	}
	return &Revocations{
		store: o.Store, signers: o.Signers, country: o.Country, catalogue: o.Values, now: o.Clock,
		log: o.Log, newID: o.NewID, retryAfter: o.StoreRetryAfter, schema: sync.OnceValues(dccschema.Compile),
	}, nil
}

// unavailableOr turns a store outage into its answer (503 store-unavailable, cause wrapped) and
// leaves other errors as they are.
func (s *Revocations) unavailableOr(err error) error {
	if errors.Is(err, ErrStoreUnavailable) {
		return storeUnavailable(err, s.retryAfter)
	}
	return err
}
