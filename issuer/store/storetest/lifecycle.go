package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer"
)

func testReopen(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	provider, _ := principals()
	key := issuer.APIKey{ID: "k-1", PrincipalID: provider.ID, Hash: hash("secret"), CreatedAt: base()}
	c := certificate(provider.ID, "lab-1", base(), subject(1))
	r := issuance(c, "ev-1")
	if err := s.CreatePrincipal(ctx(t), provider); err != nil {
		t.Fatalf("CreatePrincipal: %v", err)
	}
	if err := s.CreateAPIKey(ctx(t), key); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	mustRecord(t, s, r)
	if err := s.RevokeAPIKey(ctx(t), key.ID, base().Add(time.Hour)); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t)
	got, err := s.CertificateByIdentifier(ctx(t), provider.ID, "lab-1")
	if err != nil {
		t.Fatalf("certificate after reopening: %v", err)
	}
	equal(t, "certificate after reopening", got, c)
	req, err := s.Request(ctx(t), provider.ID, c.RequestID)
	if err != nil {
		t.Fatalf("request after reopening: %v", err)
	}
	equal(t, "request after reopening", req, *r.Request)
	page, err := s.SearchAudit(ctx(t), issuer.AuditQuery{UVCI: c.UVCI})
	if err != nil {
		t.Fatalf("SearchAudit after reopening: %v", err)
	}
	equal(t, "audit after reopening", page.Events, []issuer.AuditEvent{r.Audit})
	p, err := s.Principal(ctx(t), provider.ID)
	if err != nil {
		t.Fatalf("principal after reopening: %v", err)
	}
	equal(t, "principal after reopening", p, provider)
	k, err := s.APIKey(ctx(t), key.ID)
	if err != nil {
		t.Fatalf("key after reopening: %v", err)
	}
	key.RevokedAt = ptr(base().Add(time.Hour))
	equal(t, "key after reopening", k, key)

	again := certificate(provider.ID, "lab-1", base().Add(time.Minute), subject(1))
	again.UVCI, again.RequestID = "URN:UVCI:01:SE:AGAIN#Q", "req-again"
	if err := s.Record(ctx(t), issuance(again, "ev-2")); !errors.Is(err, issuer.ErrIdentifierTaken) {
		t.Errorf("Record of a taken identifier after reopening: error %v, want ErrIdentifierTaken", err)
	}
}

func testPingAndClose(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	c := certificate("prov-1", "lab-1", base(), subject(1))
	unavailable := map[string]error{
		"Ping":   s.Ping(ctx(t)),
		"Record": s.Record(ctx(t), issuance(c, "ev-1")),
		"CertificateByUVCI": func() error {
			_, err := s.CertificateByUVCI(ctx(t), c.UVCI)
			return err
		}(),
		"SearchAudit": func() error {
			_, err := s.SearchAudit(ctx(t), issuer.AuditQuery{})
			return err
		}(),
	}
	for what, err := range unavailable {
		if !errors.Is(err, issuer.ErrStoreUnavailable) {
			t.Errorf("%s on a closed store: error %v, want ErrStoreUnavailable", what, err)
		}
	}
}
