package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/postgres"
)

func readOnlyStore(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.OpenReadOnly(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testIssuance(identifier string, at time.Time) issuer.Record {
	c := issuer.Certificate{UVCI: "URN:UVCI:01:SE:DCC/" + identifier + "#R", ProviderID: "p1", Identifier: identifier,
		Kind: issuer.KindTest, Environment: issuer.Sandbox, SubjectKey: []byte("subject-key-of-32-bytes-exactly!"),
		HC1: "HC1:" + identifier, IdentitySource: issuer.SourceRegister, Delivery: issuer.DeliveryMailbox,
		RequestID: "req-" + identifier, IssuedAt: at, ExpiresAt: at.Add(72 * time.Hour)}
	return issuer.Record{Certificate: &c, Audit: issuer.AuditEvent{At: at, RequestID: c.RequestID, PrincipalID: "p1",
		Role: issuer.RoleProvider, Route: "POST /observation", Status: 200, Outcome: issuer.OutcomeIssued, Kind: c.Kind,
		Environment: c.Environment, IdentitySource: c.IdentitySource, UVCI: c.UVCI, SubjectMasked: "19121212****"}}
}

// With no standby to prefer, the read pool reads from the primary; a write through it fails
// and writes nothing.
func TestReadOnlyPoolReadsAndRefusesWrites(t *testing.T) {
	url := migratedDatabase(t)
	primary := openStore(t, url, postgres.Options{})
	ro := readOnlyStore(t, url)
	rec := testIssuance("ro-1", time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	if err := primary.Record(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	got, err := ro.CertificateByUVCI(t.Context(), rec.Certificate.UVCI)
	if err != nil || got.HC1 != rec.Certificate.HC1 {
		t.Fatalf("read through the read pool: %+v, %v", got, err)
	}
	other := testIssuance("ro-2", rec.Certificate.IssuedAt)
	if err := ro.Record(t.Context(), other); err == nil {
		t.Fatal("Record through the read-only pool succeeded")
	}
	if _, err := primary.CertificateByUVCI(t.Context(), other.Certificate.UVCI); !errors.Is(err, issuer.ErrNotFound) {
		t.Fatalf("a write through the read pool left a certificate: %v", err)
	}
}

// A single certificate the standby does not have yet comes from the primary; lists come from the
// standby alone. Two databases stand for a primary and a standby that has not replayed its commit.
func TestReadsFallBackToThePrimaryForOneCertificate(t *testing.T) {
	primary := openStore(t, migratedDatabase(t), postgres.Options{})
	lagging := readOnlyStore(t, migratedDatabase(t))
	reads := postgres.NewReads(lagging, primary)
	rec := testIssuance("fresh", time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	if err := primary.Record(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	c := rec.Certificate
	if got, err := reads.CertificateByUVCI(t.Context(), c.UVCI); err != nil || got.UVCI != c.UVCI {
		t.Errorf("CertificateByUVCI = %+v, %v; want it from the primary", got, err)
	}
	if got, err := reads.CertificateByIdentifier(t.Context(), c.ProviderID, c.Identifier); err != nil || got.UVCI != c.UVCI {
		t.Errorf("CertificateByIdentifier = %+v, %v; want it from the primary", got, err)
	}
	if _, err := reads.CertificateByUVCI(t.Context(), "URN:UVCI:01:SE:DCC/none#A"); !errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("unknown UVCI: %v, want ErrNotFound", err)
	}
	list, err := reads.CertificatesBySubject(t.Context(), c.SubjectKey)
	if err != nil || len(list) != 0 {
		t.Errorf("CertificatesBySubject = %d certificates, %v; want the standby's (none yet)", len(list), err)
	}
	if err := reads.Ping(t.Context()); err != nil {
		t.Error(err)
	}
}

// The read pool opens without reaching a server, and answers ErrStoreUnavailable until one answers.
func TestReadOnlyPoolOpensWhileTheServerIsDown(t *testing.T) {
	ro, err := postgres.OpenReadOnly(t.Context(), "postgres://dcc@127.0.0.1:1,127.0.0.1:2/dcc?connect_timeout=1", postgres.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("OpenReadOnly with no server: %v", err)
	}
	defer ro.Close()
	if err := ro.Ping(t.Context()); !errors.Is(err, issuer.ErrStoreUnavailable) {
		t.Errorf("Ping = %v, want ErrStoreUnavailable", err)
	}
	if _, err := postgres.OpenReadOnly(t.Context(), "postgres://dcc@127.0.0.1:1/dcc?target_session_attrs=bogus", postgres.Options{}); err == nil {
		t.Error("a malformed read URL was accepted")
	}
}
