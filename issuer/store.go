package issuer

import (
	"context"
	"errors"
	"time"
)

// Errors every Store implementation returns for the conditions the issuer acts on.
var (
	ErrNotFound = errors.New("not found")
	// ErrIdentifierTaken: a certificate for (provider, Identifier) exists; nothing was written.
	ErrIdentifierTaken = errors.New("identifier already used by this provider")
	// ErrRequestIDTaken: a request record for (principal, request id) exists; nothing was written.
	ErrRequestIDTaken = errors.New("request id already used by this principal")
	// ErrStoreUnavailable wraps failures to reach the store (connection refused, timeouts).
	ErrStoreUnavailable = errors.New("store unavailable")
	// ErrInvalidCursor: SearchAudit was given a cursor that no store produced.
	ErrInvalidCursor = errors.New("invalid audit cursor")
	// ErrIncidentOpen: an incident for the same dependency is still open; nothing was written.
	ErrIncidentOpen = errors.New("an incident is already open for this dependency")
)

// Record is everything one finished request writes. Store.Record commits it in one durable
// transaction, so a certificate never exists without its audit event.
type Record struct {
	Audit       AuditEvent
	Certificate *Certificate   // nil when nothing was issued
	Request     *RequestRecord // nil when the client gave no X-Request-ID
}

// The store is split by role: each consumer declares, and gets, only the methods it uses, and a
// test double wraps one role. Store is their sum, for wiring and for the contract suite that
// both implementations pass (issuer/store/storetest).

// IssuanceStore is what the issuance service uses: the durable write of a finished request,
// the reads that recognise a retry, the purge of old request records, and a ping for readiness.
type IssuanceStore interface {
	// Record writes r in one transaction and returns only once it is durable (fsync or
	// synchronous commit). It returns ErrIdentifierTaken or ErrRequestIDTaken, writing nothing,
	// when the certificate's (provider, Identifier) or the request's (principal, request id) exists.
	Record(ctx context.Context, r Record) error
	CertificateByIdentifier(ctx context.Context, providerID, identifier string) (Certificate, error)
	CertificateByUVCI(ctx context.Context, uvci string) (Certificate, error)
	Request(ctx context.Context, principalID, requestID string) (RequestRecord, error)
	// PurgeRequests deletes request records created before the time, returning how many: a
	// request id is remembered for replay for a retention period, not forever.
	PurgeRequests(ctx context.Context, before time.Time) (int64, error)
	// PurgeAudit deletes audit events recorded before the time, in batches so that issuance
	// writes run between them, returning how many (the audit retention).
	PurgeAudit(ctx context.Context, before time.Time) (int64, error)
	// Ping checks that the store can serve.
	Ping(ctx context.Context) error
}

// AuditWriter is what the audit queue uses to record refusals.
type AuditWriter interface {
	// RecordAudit writes the audit events of requests that wrote nothing else (refusals), many in
	// one durable transaction, so that recording a rush of refusals costs one commit per batch.
	RecordAudit(ctx context.Context, events []AuditEvent) error
}

// AuditReader is what support staff's audit search uses.
type AuditReader interface {
	SearchAudit(ctx context.Context, q AuditQuery) (AuditPage, error)
}

// CitizenReader is what a citizen's own certificate pages use.
type CitizenReader interface {
	// CertificatesBySubject lists a person's certificates, newest first.
	CertificatesBySubject(ctx context.Context, subjectKey []byte) ([]Certificate, error)
	CertificateByUVCI(ctx context.Context, uvci string) (Certificate, error)
	// RevokedAmong returns which of the UVCIs are revoked (a set; UVCIs not revoked or not
	// known are absent), in one read.
	RevokedAmong(ctx context.Context, uvcis []string) (map[string]bool, error)
}

// CredentialStore is what credentials (Credentials, and the administration commands) use.
type CredentialStore interface {
	CreatePrincipal(ctx context.Context, p Principal) error
	Principal(ctx context.Context, id string) (Principal, error)
	PrincipalByName(ctx context.Context, name string) (Principal, error)
	ListPrincipals(ctx context.Context) ([]Principal, error)
	CreateAPIKey(ctx context.Context, k APIKey) error
	APIKey(ctx context.Context, id string) (APIKey, error)
	ListAPIKeys(ctx context.Context, principalID string) ([]APIKey, error)
	// ExpireAPIKey sets a key's expiry (rotation overlap); RevokeAPIKey ends it at once.
	ExpireAPIKey(ctx context.Context, id string, at time.Time) error
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
	// CreateClientCert binds a TLS client certificate to an existing principal (ErrNotFound
	// otherwise; an error when the fingerprint is bound already). ClientCert finds one by its
	// fingerprint (ErrNotFound when unknown); RevokeClientCert ends it at once, keeping the first
	// revocation time.
	CreateClientCert(ctx context.Context, c ClientCert) error
	ClientCert(ctx context.Context, fingerprint []byte) (ClientCert, error)
	ListClientCerts(ctx context.Context, principalID string) ([]ClientCert, error)
	RevokeClientCert(ctx context.Context, fingerprint []byte, at time.Time) error
}

// StatusStore is what the status page's incidents and notices use (the status monitor and
// dccctl status).
type StatusStore interface {
	// OpenIncident stores a new open incident (Kind set to StatusIncident). At most one
	// incident per dependency is open at a time: it returns ErrIncidentOpen, writing nothing,
	// when one is.
	OpenIncident(ctx context.Context, e StatusEvent) error
	// OpenIncidentFor returns the open incident of a dependency, or ErrNotFound.
	OpenIncidentFor(ctx context.Context, dependency string) (StatusEvent, error)
	// PostNotice stores a new notice (Kind set to StatusNotice). A zero UpdatedAt is taken
	// from OpenedAt, here and in OpenIncident.
	PostNotice(ctx context.Context, e StatusEvent) error
	// CloseStatusEvent closes an incident or a notice at the given time (ErrNotFound when there
	// is no such event). Closing a closed event keeps the first closing time.
	CloseStatusEvent(ctx context.Context, id string, at time.Time) error
	// StatusEvents lists the events still relevant at since: those not closed before it and
	// not ended (Until) before it, newest first by (OpenedAt, ID), at most limit (0 means 100,
	// more than 1000 means 1000).
	StatusEvents(ctx context.Context, since time.Time, limit int) ([]StatusEvent, error)
}

// RevocationStore is what revocation, the published trust and revocation lists and verification
// use (Revocations).
type RevocationStore interface {
	CertificateByUVCI(ctx context.Context, uvci string) (Certificate, error)
	// RecordAudit records refused revocations (see AuditWriter).
	RecordAudit(ctx context.Context, events []AuditEvent) error
	// Revoke writes the revocation and its audit event in one durable transaction. When the
	// UVCI is revoked already it writes only the audit event, as OutcomeReplayed with the note
	// NoteAlreadyRevoked, and returns the revocation that exists with created false. A UVCI
	// without a certificate is ErrNotFound, nothing written.
	Revoke(ctx context.Context, r Revocation, audit AuditEvent) (stored Revocation, created bool, err error)
	// Revocation returns the revocation of a UVCI, or ErrNotFound.
	Revocation(ctx context.Context, uvci string) (Revocation, error)
	// Revocations lists the revocations of certificates that expire after the time, oldest
	// revocation first by (RevokedAt, UVCI).
	Revocations(ctx context.Context, expiringAfter time.Time) ([]Revocation, error)
	// RecordSigningCertificate remembers a DSC the service signs with; recording a known one
	// (same DER) changes nothing.
	RecordSigningCertificate(ctx context.Context, c SigningCertificate) error
	// SigningCertificates lists the remembered DSCs, first used first.
	SigningCertificates(ctx context.Context) ([]SigningCertificate, error)
}

// QueueStore is what the citizens' virtual queue uses: one shared counter, so that every replica
// hands out numbers and admission times from the same line, and a restart continues it.
type QueueStore interface {
	// ReserveQueueSlots takes n consecutive places in the line (n at least 1) in one atomic
	// step: the first at the later of the line's frontier and earliest, each next one interval
	// after it, and moves the frontier past the last. Numbers continue from the previous
	// reservation by any replica and never repeat, so both numbers and times rise together.
	ReserveQueueSlots(ctx context.Context, n int, earliest time.Time, interval time.Duration) (QueueBlock, error)
}

// QueueBlock is a run of reserved places: number First+i is admitted at Start+i*Interval.
type QueueBlock struct {
	First    uint64
	N        int
	Start    time.Time
	Interval time.Duration
}

// Number is the i-th place's number and At its admission time.
func (b QueueBlock) Number(i int) uint64 { return b.First + uint64(i) }

// At is the admission time of the i-th place.
func (b QueueBlock) At(i int) time.Time { return b.Start.Add(time.Duration(i) * b.Interval) }

// End is the frontier after the block: the time of the place after its last.
func (b QueueBlock) End() time.Time { return b.At(b.N) }

// NoteAlreadyRevoked marks the audit event of a revocation that repeated an earlier one.
const NoteAlreadyRevoked = "already-revoked"

// Store is every role together: what an implementation provides and wiring opens. Two
// implementations pass one contract suite: PostgreSQL (production) and an embedded pure-Go
// store (development, zero set-up).
type Store interface {
	IssuanceStore
	AuditWriter
	AuditReader
	CitizenReader
	CredentialStore
	StatusStore
	RevocationStore
	QueueStore
	Close() error
}

// StatusEventsLimit is the number of events Store.StatusEvents returns for a requested limit.
func StatusEventsLimit(limit int) int {
	switch {
	case limit <= 0:
		return 100
	case limit > 1000:
		return 1000
	}
	return limit
}
