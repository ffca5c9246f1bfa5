package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer"
)

func testClientCerts(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	provider, staff := principals()
	for _, p := range []issuer.Principal{provider, staff} {
		if err := s.CreatePrincipal(ctx(t), p); err != nil {
			t.Fatalf("CreatePrincipal(%s): %v", p.ID, err)
		}
	}
	fp1, fp2 := sha256.Sum256([]byte("certificate one")), sha256.Sum256([]byte("certificate two"))
	first := issuer.ClientCert{Fingerprint: fp1[:], PrincipalID: provider.ID, Subject: "CN=Zeta Lab AB,O=Zeta",
		NotAfter: base().AddDate(1, 0, 0), CreatedAt: base()}
	second := issuer.ClientCert{Fingerprint: fp2[:], PrincipalID: provider.ID, Subject: "CN=Zeta Lab AB (2)",
		NotAfter: base().AddDate(2, 0, 0), CreatedAt: base().Add(time.Minute)}
	for _, c := range []issuer.ClientCert{second, first} {
		if err := s.CreateClientCert(ctx(t), c); err != nil {
			t.Fatalf("CreateClientCert(%x): %v", c.Fingerprint[:4], err)
		}
	}
	got, err := s.ClientCert(ctx(t), fp1[:])
	if err != nil {
		t.Fatalf("ClientCert: %v", err)
	}
	equal(t, "ClientCert", got, first)
	list, err := s.ListClientCerts(ctx(t), provider.ID)
	if err != nil {
		t.Fatalf("ListClientCerts: %v", err)
	}
	equal(t, "ListClientCerts (oldest first)", list, []issuer.ClientCert{first, second})
	if list, err := s.ListClientCerts(ctx(t), staff.ID); err != nil || len(list) != 0 {
		t.Errorf("ListClientCerts of a principal without any: %v, %v", list, err)
	}

	unknown := sha256.Sum256([]byte("never bound"))
	if _, err := s.ClientCert(ctx(t), unknown[:]); !errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("ClientCert(unknown): error %v, want ErrNotFound", err)
	}
	// One certificate is one principal's: binding it again (to anyone) fails and changes nothing.
	again := first
	again.PrincipalID = staff.ID
	if err := s.CreateClientCert(ctx(t), again); err == nil {
		t.Error("CreateClientCert with a bound fingerprint succeeded")
	}
	orphan := issuer.ClientCert{Fingerprint: unknown[:], PrincipalID: "nobody", Subject: "CN=x", NotAfter: base(), CreatedAt: base()}
	if err := s.CreateClientCert(ctx(t), orphan); err == nil {
		t.Error("CreateClientCert for an unknown principal succeeded")
	}
	if got, err := s.ClientCert(ctx(t), fp1[:]); err != nil || got.PrincipalID != provider.ID {
		t.Errorf("after the refused rebinding: %+v, %v", got, err)
	}

	at := base().Add(time.Hour)
	if err := s.RevokeClientCert(ctx(t), fp1[:], at); err != nil {
		t.Fatalf("RevokeClientCert: %v", err)
	}
	if err := s.RevokeClientCert(ctx(t), fp1[:], at.Add(time.Hour)); err != nil {
		t.Fatalf("RevokeClientCert again: %v", err)
	}
	got, err = s.ClientCert(ctx(t), fp1[:])
	if err != nil {
		t.Fatalf("ClientCert after revocation: %v", err)
	}
	if got.RevokedAt == nil || !got.RevokedAt.Equal(at) {
		t.Errorf("RevokedAt = %v, want the first revocation time %v", got.RevokedAt, at)
	}
	if !bytes.Equal(got.Fingerprint, fp1[:]) {
		t.Errorf("fingerprint read back %x, want %x", got.Fingerprint, fp1)
	}
	if err := s.RevokeClientCert(ctx(t), unknown[:], at); !errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("RevokeClientCert(unknown): error %v, want ErrNotFound", err)
	}
}
