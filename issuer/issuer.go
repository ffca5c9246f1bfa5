// Package issuer holds the rules of the service: what may be issued, to whom, with which UVCI and
// validity; idempotent retries; the population-register policy with its birth-date fallback; and
// one audit event for every request, accepted or rejected.
//
// It knows no HTTP framework and no SQL: requests arrive as bytes plus who sent them, answers
// leave as domain values or problem.List errors, and persistence goes through the IssuanceStore role of the Store interface.
package issuer

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sedcc/dcc/fhir"
	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer/policy"
	"github.com/sedcc/dcc/registry"
	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/valueset"
)

// Signer turns a DCC payload into a signed HC1 string. One Signer exists per environment, each
// with its own key and DSC, so sandbox certificates never carry a production kid.
type Signer interface {
	// Sign signs the payload. It refuses an issuedAt outside Validity and caps expires at its
	// end, as verifiers reject anything else.
	Sign(payload dcc.Certificate, issuedAt, expires time.Time) (hc1 string, err error)
	KID() []byte
	// Allows reports whether the signing certificate may sign kind k: a DSC with DCC extended
	// key usages signs only the kinds they name.
	Allows(k Kind) bool
	// Certificate is the DSC.
	Certificate() *x509.Certificate
	// SignDetached signs a published document (trust list, revocation list): a COSE_Sign1 with
	// a detached payload, verifiable against the DSC (hcert.VerifyDetached).
	SignDetached(content []byte) ([]byte, error)
	// Validity is the DSC's validity period.
	Validity() (notBefore, notAfter time.Time)
	// Check signs a probe to prove the key is usable (an HSM may be unreachable).
	Check() error
}

// UVCIs derives the certificate identifier from (provider code, the provider's Identifier), so
// that a retry yields the same UVCI and two providers can never collide.
type UVCIs interface {
	For(providerCode, identifier string) (string, error)
}

// Config is the issuer's policy settings. Zero values take the documented defaults.
type Config struct {
	Country    string // issuing country, "SE"
	IssuerName string // "is" of every entry, "Swedish eHealth Agency"

	// Policy is the issuance policy: the zone dates are counted in and the recovery window. The
	// parser must be given the same value (cmd/internal/setup builds one for both).
	Policy policy.Issuance

	// Technical validity (CWT exp) per kind, counted from issuance. Recovery certificates are
	// additionally capped at their du date.
	TestValidity        time.Duration // default 72 h
	RecoveryValidity    time.Duration // default 180 days
	VaccinationValidity time.Duration // default 365 days

	// RegisterRetryAfter is the Retry-After sent with register-unavailable (default 60 s).
	RegisterRetryAfter time.Duration
	// StoreRetryAfter is the Retry-After sent with store-unavailable (default 5 s).
	StoreRetryAfter time.Duration
	// SigningRetryAfter is the Retry-After sent with signing-unavailable when the DSC has
	// expired or the key fails (default 5 min); before a DSC's NotBefore it is the time left.
	SigningRetryAfter time.Duration

	// CitizenService says that citizens can sign in and fetch their certificates, so that
	// certificates of persons with a number are delivered there (see Delivery).
	CitizenService bool
	// CitizenSandbox says that the citizen service also shows sandbox certificates (a
	// development or test set-up; see CitizenView), so that they too are delivered there.
	CitizenSandbox bool

	// TestIdentities are personnummer (12 digits) or prefixes of them that are known test
	// identities: refused in production with test-data-in-production.
	TestIdentities []string
}

func (c Config) withDefaults() (Config, error) {
	pol, err := policy.New(c.Policy)
	if err != nil {
		return Config{}, err
	}
	c.Policy = pol
	c.Country = cmp.Or(c.Country, "SE")
	c.IssuerName = cmp.Or(c.IssuerName, "Swedish eHealth Agency")
	c.TestValidity = cmp.Or(c.TestValidity, 72*time.Hour)
	c.RecoveryValidity = cmp.Or(c.RecoveryValidity, 180*24*time.Hour)
	c.VaccinationValidity = cmp.Or(c.VaccinationValidity, 365*24*time.Hour)
	c.RegisterRetryAfter = cmp.Or(c.RegisterRetryAfter, 60*time.Second)
	c.StoreRetryAfter = cmp.Or(c.StoreRetryAfter, 5*time.Second)
	c.SigningRetryAfter = cmp.Or(c.SigningRetryAfter, 5*time.Minute)
	if c.TestIdentities == nil {
		c.TestIdentities = DefaultTestIdentities
	}
	return c, nil
}

// Parser turns request bodies into domain values (the fhir package's Parser).
type Parser interface {
	Test(body []byte) (fhir.TestResult, error)
	Recovery(body []byte) (fhir.TestResult, error)
	Vaccination(body []byte) (fhir.Vaccination, error)
}

// Options are the issuer's dependencies.
type Options struct {
	Config Config
	Store  IssuanceStore
	// Audit serves searches of the audit log (SearchAudit); without it they answer
	// internal-error. Wiring passes the same store as Store.
	Audit   AuditReader
	Signers map[Environment]Signer
	UVCIs   UVCIs
	// Register resolves production requests: the population register.
	Register registry.Register
	// SandboxRegister resolves sandbox requests: a test population. A sandbox credential never
	// reaches the production register, so it learns nothing about real people (not a name, a
	// birth date, a protection or a death): a real person is as unknown to it as a made-up one.
	SandboxRegister registry.Register
	Parser          Parser
	Values          *valueset.Catalogue
	// SubjectKey keys the hash under which personnummer are stored and looked up. It must stay
	// the same for the life of the data.
	SubjectKey []byte
	Clock      func() time.Time
	Log        *slog.Logger
	Metrics    Metrics
	// NewID returns a unique, time-ordered id for audit events.
	NewID func() string
}

// Metrics receives counts the service exposes; nil fields are skipped.
type Metrics interface {
	Issued(kind Kind, env Environment, source IdentitySource)
}

// Service is the issuer. It is safe for concurrent use.
type Service struct {
	cfg        Config
	store      IssuanceStore
	auditLog   AuditReader
	signers    map[Environment]Signer
	uvcis      UVCIs
	register   registry.Register
	sandboxReg registry.Register
	parser     Parser
	catalogue  *valueset.Catalogue
	subjectKey []byte
	now        func() time.Time
	log        *slog.Logger
	metrics    Metrics
	newID      func() string
	locksMu    sync.Mutex
	locks      map[string]*keyLock
}

// New checks the options and builds the service.
func New(o Options) (*Service, error) {
	switch {
	case o.Store == nil:
		return nil, errors.New("issuer: no store")
	case len(o.Signers) == 0:
		return nil, errors.New("issuer: no signer")
	case o.UVCIs == nil:
		return nil, errors.New("issuer: no UVCI generator")
	case o.Register == nil:
		return nil, errors.New("issuer: no population register")
	case o.SandboxRegister == nil:
		return nil, errors.New("issuer: no sandbox register (a test population)")
	case o.Parser == nil:
		return nil, errors.New("issuer: no parser")
	case o.Values == nil:
		return nil, errors.New("issuer: no value sets")
	case len(o.SubjectKey) < 32:
		return nil, errors.New("issuer: subject key must be at least 32 bytes")
	case o.NewID == nil:
		return nil, errors.New("issuer: no id generator")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	cfg, err := o.Config.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	return &Service{
		cfg:        cfg,
		store:      o.Store,
		auditLog:   o.Audit,
		signers:    o.Signers,
		uvcis:      o.UVCIs,
		register:   o.Register,
		sandboxReg: o.SandboxRegister,
		parser:     o.Parser,
		catalogue:  o.Values,
		subjectKey: append([]byte(nil), o.SubjectKey...),
		now:        o.Clock,
		log:        o.Log,
		metrics:    o.Metrics,
		newID:      o.NewID,
	}, nil
}

// Policy is the issuance policy in force.
func (s *Service) Policy() policy.Issuance { return s.cfg.Policy }

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// SubjectKeyFor is the keyed hash under which a personnummer's production certificates are
// stored, and under which a citizen finds them.
func (s *Service) SubjectKeyFor(digits string) []byte {
	return s.subjectKeyIn(Production, digits)
}

// subjectKeyIn is the keyed hash of a personnummer in an environment. Sandbox hashes are keyed
// apart: nothing of a sandbox request is stored under a production subject key, so no sandbox
// certificate ever shows in a real person's list.
func (s *Service) subjectKeyIn(env Environment, digits string) []byte {
	m := hmac.New(sha256.New, s.subjectKey)
	if env == Production {
		m.Write([]byte("subject\x00"))
	} else {
		m.Write([]byte("sandbox-subject\x00"))
	}
	m.Write([]byte(digits))
	return m.Sum(nil)
}

// registerFor is the register that resolves requests of an environment.
func (s *Service) registerFor(env Environment) registry.Register {
	if env == Production {
		return s.register
	}
	return s.sandboxReg
}

// contentHash keys the canonical content of an issuance request, so that a retry with the same
// Identifier is recognised as the same request without storing the content in clear.
func (s *Service) contentHash(kind Kind, canonical []byte) []byte {
	m := hmac.New(sha256.New, s.subjectKey)
	m.Write([]byte("content\x00"))
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write(canonical)
	return m.Sum(nil)
}

// unavailableStore is the problem answered when the store cannot be reached.
func (s *Service) unavailableStore(err error) error {
	return storeUnavailable(err, s.cfg.StoreRetryAfter)
}

// storeUnavailable wraps a store failure in the problem answered for it, 503 store-unavailable.
func storeUnavailable(err error, retryAfter time.Duration) error {
	return fmt.Errorf("%w: %w", storeUnavailableProblem(retryAfter), err)
}

// storeUnavailableProblem is the answer to a store outage, 503 store-unavailable with
// Retry-After: the one place that answer is made, for issuance, credential checks and
// revocation alike.
func storeUnavailableProblem(retryAfter time.Duration) problem.List {
	return problem.New(problem.CodeStoreUnavailable, "", "").WithRetryAfter(retryAfter)
}

// failureAnswer is the answer to a failure the caller cannot act on: store-unavailable for a
// store outage, internal-error otherwise.
func failureAnswer(err error, retryAfter time.Duration) problem.List {
	if errors.Is(err, ErrStoreUnavailable) {
		return storeUnavailableProblem(retryAfter)
	}
	return problem.Internal()
}
