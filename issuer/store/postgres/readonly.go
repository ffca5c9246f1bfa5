package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sedcc/dcc/issuer"
)

// OpenReadOnly opens a second, read-only pool for the reads that may be a little stale: a
// citizen's list of certificates, the trust list, audit search. readURL (DATABASE_READ_URL)
// names the cluster's hosts like DATABASE_URL; when it names no target_session_attrs,
// prefer-standby is used, so reads go to the first standby that answers and to the primary only
// when no standby does. Every session is read-only (default_transaction_read_only), so a write
// sent here by mistake fails instead of landing on whichever node answered.
//
// Staleness: a standby applies the primary's WAL a little after the primary commits. With
// synchronous_commit=on the synchronous standby has the commit on disk, not necessarily applied,
// when the provider gets its answer, and an asynchronous standby may be further behind. On a
// healthy cluster that is milliseconds; while a standby replays a long conflict
// (max_standby_streaming_delay) or catches up after a restart, it can be seconds or more. Use
// Reads, which takes a single certificate the standby does not have yet from the primary.
//
// Like Start, OpenReadOnly does not wait for the servers: the pool connects when first used, so a
// process starts while the cluster is down; only a malformed URL is an error. It applies no
// migrations (the primary's store does); reads fail until the schema has reached the standby.
func OpenReadOnly(ctx context.Context, readURL string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(readURL)
	if err != nil {
		return nil, fmt.Errorf("open postgres read pool: parse database read url: %w", err)
	}
	if !strings.Contains(readURL, "target_session_attrs") {
		cfg.ConnConfig.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsPreferStandby
	}
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "dcc-read"
	}
	s, err := openPool(ctx, cfg, opts, false)
	if err != nil {
		return nil, fmt.Errorf("read pool: %w", err)
	}
	return s, nil
}

// certificateReader is what Reads falls back to: the primary.
type certificateReader interface {
	CertificateByUVCI(ctx context.Context, uvci string) (issuer.Certificate, error)
	CertificateByIdentifier(ctx context.Context, providerID, identifier string) (issuer.Certificate, error)
}

// Reads serves the reads that tolerate staleness from the read-only pool. A single certificate
// the standby does not have (yet) is read from the primary, so a certificate just issued is
// found by whoever follows its UVCI at once; lists (a citizen's certificates, an audit page) come
// from the standby alone and may lag the primary by the standby's replay delay.
type Reads struct {
	standby *Store
	primary certificateReader
}

var (
	_ issuer.CitizenReader = (*Reads)(nil)
	_ issuer.AuditReader   = (*Reads)(nil)
)

// NewReads serves reads from standby, falling back to primary for a single certificate.
func NewReads(standby *Store, primary certificateReader) *Reads {
	return &Reads{standby: standby, primary: primary}
}

// CertificateByUVCI reads from the standby, then from the primary when the standby has none.
func (r *Reads) CertificateByUVCI(ctx context.Context, uvci string) (issuer.Certificate, error) {
	c, err := r.standby.CertificateByUVCI(ctx, uvci)
	if errors.Is(err, issuer.ErrNotFound) || errors.Is(err, issuer.ErrStoreUnavailable) {
		return r.primary.CertificateByUVCI(ctx, uvci)
	}
	return c, err
}

// CertificateByIdentifier reads from the standby, then from the primary when the standby has none.
func (r *Reads) CertificateByIdentifier(ctx context.Context, providerID, identifier string) (issuer.Certificate, error) {
	c, err := r.standby.CertificateByIdentifier(ctx, providerID, identifier)
	if errors.Is(err, issuer.ErrNotFound) || errors.Is(err, issuer.ErrStoreUnavailable) {
		return r.primary.CertificateByIdentifier(ctx, providerID, identifier)
	}
	return c, err
}

// CertificatesBySubject lists a person's certificates from the standby (may lag, see OpenReadOnly).
func (r *Reads) CertificatesBySubject(ctx context.Context, subjectKey []byte) ([]issuer.Certificate, error) {
	return r.standby.CertificatesBySubject(ctx, subjectKey)
}

// RevokedAmong reads the revocations from the standby (may lag, see OpenReadOnly).
func (r *Reads) RevokedAmong(ctx context.Context, uvcis []string) (map[string]bool, error) {
	return r.standby.RevokedAmong(ctx, uvcis)
}

// SearchAudit searches the audit trail on the standby (may lag, see OpenReadOnly).
func (r *Reads) SearchAudit(ctx context.Context, q issuer.AuditQuery) (issuer.AuditPage, error) {
	return r.standby.SearchAudit(ctx, q)
}

// Ping checks that the read pool answers.
func (r *Reads) Ping(ctx context.Context) error { return r.standby.Ping(ctx) }

// Close closes the read pool (not the primary's).
func (r *Reads) Close() error { return r.standby.Close() }
