package setup

import (
	"context"
	"fmt"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/postgres"
)

// Reads is the store for reads that may be stale by a standby's replay delay: pass it where an
// issuer.CitizenReader (a citizen's certificates) or an issuer.AuditReader (audit search) is
// taken. A single certificate the standby does not have yet is read from the primary, so one just
// issued is always found.
type Reads interface {
	issuer.CitizenReader
	issuer.AuditReader
	CertificateByIdentifier(ctx context.Context, providerID, identifier string) (issuer.Certificate, error)
	Ping(ctx context.Context) error
	Close() error
}

// OpenReads opens the read-only pool of DATABASE_READ_URL over the primary store st. Without
// DATABASE_READ_URL the reads go to st itself (and Close leaves st open).
func OpenReads(ctx context.Context, c Config, st issuer.Store) (Reads, error) {
	if c.DatabaseReadURL == "" {
		return primaryReads{st}, nil
	}
	ro, err := postgres.OpenReadOnly(ctx, c.DatabaseReadURL, postgres.Options{Timeout: c.StoreTimeout})
	if err != nil {
		return nil, fmt.Errorf("open DATABASE_READ_URL: %w", err)
	}
	return postgres.NewReads(ro, st), nil
}

// primaryReads serves the stale-tolerant reads from the primary store, which stays open.
type primaryReads struct{ issuer.Store }

func (primaryReads) Close() error { return nil }
