package issuer

import (
	"time"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/signing/dcc"
)

// Kind is the kind of certificate.
type Kind string

const (
	KindTest        Kind = "test"
	KindRecovery    Kind = "recovery"
	KindVaccination Kind = "vaccination"
)

// DCC is the payload group the kind stands for.
func (k Kind) DCC() dcc.Kind {
	switch k {
	case KindTest:
		return dcc.KindTest
	case KindRecovery:
		return dcc.KindRecovery
	case KindVaccination:
		return dcc.KindVaccination
	}
	return dcc.KindUnknown
}

// Environment separates sandbox traffic from production traffic. Each credential belongs to one.
type Environment string

const (
	Sandbox    Environment = "sandbox"
	Production Environment = "production"
)

// IdentitySource says where the name and date of birth on a certificate came from.
type IdentitySource string

const (
	// SourceRegister: the population register answered for the personnummer.
	SourceRegister IdentitySource = "register"
	// SourceProvided: the person has no personnummer; the provider sent name and birth date.
	SourceProvided IdentitySource = "provided"
	// SourceFallback: the register was unavailable and the provider's name and birth date,
	// consistent with the personnummer, were used (the birth-date fallback routine).
	SourceFallback IdentitySource = "birthdate-fallback"
)

// Delivery says how the citizen gets the certificate.
type Delivery string

const (
	// DeliveryCitizen: the citizen fetches it from the citizen service (API and web page),
	// signed in with their e-ID. Only when the service serves citizens and the person has a number.
	DeliveryCitizen Delivery = "citizen-service"
	// DeliveryHandout: the provider hands the certificate out directly: the person has no
	// personnummer, or the citizen service is not served.
	DeliveryHandout Delivery = "provider-handout"
	// DeliveryMailbox is found only on certificates recorded by earlier versions, which claimed a
	// digital mailbox delivery that never happened; it is answered as a hand-out.
	DeliveryMailbox Delivery = "digital-mailbox"
)

// Role is what an authenticated party may do.
type Role string

const (
	RoleProvider     Role = "provider"
	RoleSupport      Role = "support"
	RoleSupportAdmin Role = "support-admin"
	RoleCitizen      Role = "citizen"
)

// Outcome of one request, as the audit log records it.
type Outcome string

const (
	OutcomeIssued   Outcome = "issued"   // a new certificate was signed and stored
	OutcomeReplayed Outcome = "replayed" // an earlier answer was returned again (same Identifier or X-Request-ID)
	OutcomeRejected Outcome = "rejected" // the request was refused (4xx)
	OutcomeFailed   Outcome = "failed"   // the service or a dependency failed (5xx)
	OutcomeRead     Outcome = "read"     // a search of the audit log (support staff or a provider)
)

// Certificate is one issued certificate as the store keeps it. The personnummer is never stored:
// SubjectKey is a keyed hash of it, used to find a citizen's certificates.
type Certificate struct {
	UVCI           string
	ProviderID     string
	Identifier     string // the provider's Identifier, unique per provider
	Kind           Kind
	Environment    Environment
	ContentHash    []byte // SHA-256 over the canonical issuance content, for idempotent retries
	SubjectKey     []byte // keyed hash of the personnummer; nil when the person has none
	HC1            string
	KID            []byte
	IdentitySource IdentitySource
	Delivery       Delivery
	RequestID      string
	IssuedAt       time.Time
	ExpiresAt      time.Time
}

// AuditEvent records one request, accepted or rejected. It holds no personal data in clear.
type AuditEvent struct {
	ID             string // unique and time-ordered (UUIDv7)
	At             time.Time
	RequestID      string
	PrincipalID    string // provider or staff member; empty when unauthenticated
	Role           Role
	Route          string // e.g. "POST /observation"
	Status         int
	Outcome        Outcome
	Codes          []string // stable problem codes, empty when accepted
	Kind           Kind
	Environment    Environment
	IdentitySource IdentitySource
	UVCI           string
	SubjectMasked  string // e.g. 19121212****
	SubjectKey     []byte // keyed hash of the personnummer, for support look-ups by person
	Latency        time.Duration
	Notes          []string // operator-facing remarks free of personal data, e.g. "register-name-mismatch"
	// Problems are what a refused or failed request was answered with (codes, FHIRPaths, texts),
	// so that support staff see the answer exactly as the caller got it. The texts are the
	// service's own sentences; they never quote personal data.
	Problems problem.List
}

// RequestRecord remembers a client-given X-Request-ID so that a replay gets the original answer
// and a reuse with another body is refused.
type RequestRecord struct {
	PrincipalID string
	RequestID   string
	BodyHash    []byte // SHA-256 of the request body
	Status      int
	UVCI        string // set when the request issued (or returned) a certificate
	Body        []byte // the stored answer for requests that did not return a certificate
	CreatedAt   time.Time
}

// Principal is a party that holds credentials: a provider organisation or a support staff member.
type Principal struct {
	ID          string
	Name        string
	Role        Role
	Environment Environment // providers only
	Kinds       []Kind      // providers only: the kinds it may issue
	CreatedAt   time.Time
	DisabledAt  *time.Time
}

// APIKey is a credential. Only a hash of the secret part is stored.
type APIKey struct {
	ID          string // public identifier, part of the bearer token
	PrincipalID string
	Hash        []byte // SHA-256 of the secret part
	CreatedAt   time.Time
	ExpiresAt   *time.Time // set when the key is rotated out (valid until then)
	RevokedAt   *time.Time
}

// ClientCert is a TLS client certificate bound to a principal, an alternative to a bearer key. It
// is known by the SHA-256 of its DER encoding; the subject and end of validity are kept to be read
// by people and to refuse an expired certificate should the TLS layer not have.
type ClientCert struct {
	Fingerprint []byte // SHA-256 of the certificate's DER encoding
	PrincipalID string
	Subject     string
	NotAfter    time.Time
	CreatedAt   time.Time
	RevokedAt   *time.Time
}

// AuditQuery filters the audit log. Zero fields do not filter.
type AuditQuery struct {
	RequestID      string
	UVCI           string
	PrincipalID    string
	Outcome        Outcome
	Code           string // one of the event's problem codes
	IdentitySource IdentitySource
	Kind           Kind
	Environment    Environment
	SubjectKey     []byte
	From, To       time.Time // From inclusive, To exclusive
	Cursor         string    // opaque; from AuditPage.Next
	Limit          int       // at most 500; 0 means 50
}

// MaxAuditPage is the most events one audit search returns (AuditQuery.Limit above it means it).
const MaxAuditPage = 500

// AuditPage is one page of audit events, newest first.
type AuditPage struct {
	Events []AuditEvent
	Next   string // cursor for the next page; empty on the last page
}

// Kinds of status events.
const (
	// StatusIncident: a dependency failed; opened by the status monitor, closed when it recovers.
	StatusIncident = "incident"
	// StatusNotice: an operator's announcement, typically a planned maintenance window.
	StatusNotice = "notice"
)

// StatusEvent is an incident or a notice shown on /status and in the status feed. It holds no
// personal data: titles and bodies are written by the monitor or by operators for the public.
type StatusEvent struct {
	ID   string
	Kind string // StatusIncident or StatusNotice
	// Dependency is what the event is about ("store", "signing", "register"); empty for the
	// service as a whole.
	Dependency string
	Title      string
	Body       string
	// OpenedAt is when the incident began, or when a notice's window starts (it may lie ahead).
	OpenedAt time.Time
	// UpdatedAt is when the event last changed (opened or closed).
	UpdatedAt time.Time
	ClosedAt  *time.Time
	// Until is the announced end of a notice's window; nil for incidents and open-ended notices.
	Until *time.Time
}

// OutcomeRevoked is the outcome of a request that revoked a certificate (a repeat of a
// revocation is OutcomeReplayed).
const OutcomeRevoked Outcome = "revoked"

// RevocationReason says why a certificate was revoked.
type RevocationReason string

// The revocation reasons. They are codes, never free text, so that nothing personal reaches the
// store or the audit log through them.
const (
	ReasonIssuedInError RevocationReason = "issued-in-error" // wrong person, wrong result, wrong data
	ReasonFraud         RevocationReason = "fraud"           // obtained or issued fraudulently
	ReasonSuperseded    RevocationReason = "superseded"      // replaced by a corrected certificate
	ReasonKeyCompromise RevocationReason = "key-compromise"  // the signing key can no longer be trusted
)

// RevocationReasons lists the accepted reasons.
var RevocationReasons = []RevocationReason{ReasonIssuedInError, ReasonFraud, ReasonSuperseded, ReasonKeyCompromise}

// Revocation records that a certificate was revoked, with the three EU DCC revocation hashes
// (signing/revocation) under which verifiers find it.
type Revocation struct {
	UVCI        string
	Reason      RevocationReason
	RevokedAt   time.Time
	RevokedBy   string // principal id of the provider or support administrator
	KID         []byte // kid of the DSC that signed the certificate
	Environment Environment
	ExpiresAt   time.Time // the certificate's expiry: after it the revocation need not be published
	// UCIHash, CountryCodeUCIHash and SignatureHash are 16 bytes each.
	UCIHash, CountryCodeUCIHash, SignatureHash []byte
}

// SigningCertificate is a DSC the service has signed with, remembered so that the trust list
// keeps naming it after the key is retired.
type SigningCertificate struct {
	Environment Environment
	Certificate []byte // DER
	FirstUsedAt time.Time
}
