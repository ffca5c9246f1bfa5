package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/sedcc/dcc/issuer"
)

// InstrumentStore wraps s so that every call is timed into
// dcc_store_operation_duration_seconds{operation, outcome}.
func (m *Metrics) InstrumentStore(s issuer.Store) issuer.Store {
	return &timedStore{s: s, m: m}
}

type timedStore struct {
	s issuer.Store
	m *Metrics
}

var _ issuer.Store = (*timedStore)(nil)

// outcome names the result of a store call without its detail.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, issuer.ErrNotFound):
		return "not-found"
	case errors.Is(err, issuer.ErrIdentifierTaken), errors.Is(err, issuer.ErrRequestIDTaken), errors.Is(err, issuer.ErrIncidentOpen):
		return "conflict"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	case errors.Is(err, issuer.ErrStoreUnavailable):
		return "unavailable"
	}
	return "error"
}

// observe records one call that started at start and ended with err.
func (t *timedStore) observe(op string, start time.Time, err error) {
	t.m.storeDuration.WithLabelValues(op, outcome(err)).Observe(t.m.now().Sub(start).Seconds())
}

// timed runs f as the store operation op and records it.
func timed[T any](t *timedStore, op string, f func() (T, error)) (T, error) {
	start := t.m.now()
	v, err := f()
	t.observe(op, start, err)
	return v, err
}

// timedErr is timed for operations that return only an error.
func (t *timedStore) timedErr(op string, f func() error) error {
	start := t.m.now()
	err := f()
	t.observe(op, start, err)
	return err
}

func (t *timedStore) Record(ctx context.Context, r issuer.Record) error {
	return t.timedErr("Record", func() error { return t.s.Record(ctx, r) })
}

func (t *timedStore) RecordAudit(ctx context.Context, events []issuer.AuditEvent) error {
	return t.timedErr("RecordAudit", func() error { return t.s.RecordAudit(ctx, events) })
}

func (t *timedStore) CertificateByIdentifier(ctx context.Context, providerID, identifier string) (issuer.Certificate, error) {
	return timed(t, "CertificateByIdentifier", func() (issuer.Certificate, error) {
		return t.s.CertificateByIdentifier(ctx, providerID, identifier)
	})
}

func (t *timedStore) CertificateByUVCI(ctx context.Context, uvci string) (issuer.Certificate, error) {
	return timed(t, "CertificateByUVCI", func() (issuer.Certificate, error) { return t.s.CertificateByUVCI(ctx, uvci) })
}

func (t *timedStore) CertificatesBySubject(ctx context.Context, subjectKey []byte) ([]issuer.Certificate, error) {
	return timed(t, "CertificatesBySubject", func() ([]issuer.Certificate, error) {
		return t.s.CertificatesBySubject(ctx, subjectKey)
	})
}

func (t *timedStore) PurgeRequests(ctx context.Context, before time.Time) (int64, error) {
	return timed(t, "PurgeRequests", func() (int64, error) { return t.s.PurgeRequests(ctx, before) })
}

func (t *timedStore) PurgeAudit(ctx context.Context, before time.Time) (int64, error) {
	return timed(t, "PurgeAudit", func() (int64, error) { return t.s.PurgeAudit(ctx, before) })
}

func (t *timedStore) Request(ctx context.Context, principalID, requestID string) (issuer.RequestRecord, error) {
	return timed(t, "Request", func() (issuer.RequestRecord, error) { return t.s.Request(ctx, principalID, requestID) })
}

func (t *timedStore) SearchAudit(ctx context.Context, q issuer.AuditQuery) (issuer.AuditPage, error) {
	return timed(t, "SearchAudit", func() (issuer.AuditPage, error) { return t.s.SearchAudit(ctx, q) })
}

func (t *timedStore) CreatePrincipal(ctx context.Context, p issuer.Principal) error {
	return t.timedErr("CreatePrincipal", func() error { return t.s.CreatePrincipal(ctx, p) })
}

func (t *timedStore) Principal(ctx context.Context, id string) (issuer.Principal, error) {
	return timed(t, "Principal", func() (issuer.Principal, error) { return t.s.Principal(ctx, id) })
}

func (t *timedStore) PrincipalByName(ctx context.Context, name string) (issuer.Principal, error) {
	return timed(t, "PrincipalByName", func() (issuer.Principal, error) { return t.s.PrincipalByName(ctx, name) })
}

func (t *timedStore) ListPrincipals(ctx context.Context) ([]issuer.Principal, error) {
	return timed(t, "ListPrincipals", func() ([]issuer.Principal, error) { return t.s.ListPrincipals(ctx) })
}

func (t *timedStore) CreateAPIKey(ctx context.Context, k issuer.APIKey) error {
	return t.timedErr("CreateAPIKey", func() error { return t.s.CreateAPIKey(ctx, k) })
}

func (t *timedStore) APIKey(ctx context.Context, id string) (issuer.APIKey, error) {
	return timed(t, "APIKey", func() (issuer.APIKey, error) { return t.s.APIKey(ctx, id) })
}

func (t *timedStore) ListAPIKeys(ctx context.Context, principalID string) ([]issuer.APIKey, error) {
	return timed(t, "ListAPIKeys", func() ([]issuer.APIKey, error) { return t.s.ListAPIKeys(ctx, principalID) })
}

func (t *timedStore) ExpireAPIKey(ctx context.Context, id string, at time.Time) error {
	return t.timedErr("ExpireAPIKey", func() error { return t.s.ExpireAPIKey(ctx, id, at) })
}

func (t *timedStore) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	return t.timedErr("RevokeAPIKey", func() error { return t.s.RevokeAPIKey(ctx, id, at) })
}

func (t *timedStore) CreateClientCert(ctx context.Context, c issuer.ClientCert) error {
	return t.timedErr("CreateClientCert", func() error { return t.s.CreateClientCert(ctx, c) })
}

func (t *timedStore) ClientCert(ctx context.Context, fingerprint []byte) (issuer.ClientCert, error) {
	return timed(t, "ClientCert", func() (issuer.ClientCert, error) { return t.s.ClientCert(ctx, fingerprint) })
}

func (t *timedStore) ListClientCerts(ctx context.Context, principalID string) ([]issuer.ClientCert, error) {
	return timed(t, "ListClientCerts", func() ([]issuer.ClientCert, error) { return t.s.ListClientCerts(ctx, principalID) })
}

func (t *timedStore) RevokeClientCert(ctx context.Context, fingerprint []byte, at time.Time) error {
	return t.timedErr("RevokeClientCert", func() error { return t.s.RevokeClientCert(ctx, fingerprint, at) })
}

func (t *timedStore) Ping(ctx context.Context) error {
	return t.timedErr("Ping", func() error { return t.s.Ping(ctx) })
}

// Close is not timed: it happens once, at shutdown.
func (t *timedStore) Close() error { return t.s.Close() }

type revokeResult struct {
	r       issuer.Revocation
	created bool
}

func (t *timedStore) Revoke(ctx context.Context, r issuer.Revocation, audit issuer.AuditEvent) (issuer.Revocation, bool, error) {
	res, err := timed(t, "Revoke", func() (revokeResult, error) {
		stored, created, err := t.s.Revoke(ctx, r, audit)
		return revokeResult{stored, created}, err
	})
	return res.r, res.created, err
}

func (t *timedStore) Revocation(ctx context.Context, uvci string) (issuer.Revocation, error) {
	return timed(t, "Revocation", func() (issuer.Revocation, error) { return t.s.Revocation(ctx, uvci) })
}

func (t *timedStore) RevokedAmong(ctx context.Context, uvcis []string) (map[string]bool, error) {
	return timed(t, "RevokedAmong", func() (map[string]bool, error) { return t.s.RevokedAmong(ctx, uvcis) })
}

func (t *timedStore) Revocations(ctx context.Context, expiringAfter time.Time) ([]issuer.Revocation, error) {
	return timed(t, "Revocations", func() ([]issuer.Revocation, error) { return t.s.Revocations(ctx, expiringAfter) })
}

func (t *timedStore) RecordSigningCertificate(ctx context.Context, c issuer.SigningCertificate) error {
	return t.timedErr("RecordSigningCertificate", func() error { return t.s.RecordSigningCertificate(ctx, c) })
}

func (t *timedStore) SigningCertificates(ctx context.Context) ([]issuer.SigningCertificate, error) {
	return timed(t, "SigningCertificates", func() ([]issuer.SigningCertificate, error) { return t.s.SigningCertificates(ctx) })
}

func (t *timedStore) ReserveQueueSlots(ctx context.Context, n int, earliest time.Time, interval time.Duration) (issuer.QueueBlock, error) {
	return timed(t, "ReserveQueueSlots", func() (issuer.QueueBlock, error) { return t.s.ReserveQueueSlots(ctx, n, earliest, interval) })
}
