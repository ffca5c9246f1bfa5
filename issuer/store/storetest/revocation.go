package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer"
)

func revocationOf(c issuer.Certificate, by string, at time.Time) issuer.Revocation {
	return issuer.Revocation{
		UVCI: c.UVCI, Reason: issuer.ReasonIssuedInError, RevokedAt: at, RevokedBy: by,
		KID: c.KID, Environment: c.Environment, ExpiresAt: c.ExpiresAt,
		UCIHash: hash("uci " + c.UVCI)[:16], CountryCodeUCIHash: hash("co " + c.UVCI)[:16],
		SignatureHash: hash("sig " + c.UVCI)[:16],
	}
}

func revokeAudit(c issuer.Certificate, id string, outcome issuer.Outcome, at time.Time) issuer.AuditEvent {
	return issuer.AuditEvent{ID: id, At: at, RequestID: "revoke-" + id, PrincipalID: "s_admin",
		Role: issuer.RoleSupportAdmin, Route: "POST /api/v1/certificates/{uvci}/revoke", Status: 200,
		Outcome: outcome, Kind: c.Kind, Environment: c.Environment, UVCI: c.UVCI,
		Notes: []string{"reason:issued-in-error"}}
}

// Revoke writes the revocation once with its audit event; a repeat writes only its audit event
// and returns the first revocation; an unknown UVCI writes nothing; the list holds only
// certificates not yet expired; everything survives a restart.
func testRevocations(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	c1 := certificate("p1", "rev-1", base(), subject(1))
	c2 := certificate("p1", "rev-2", base().Add(time.Minute), subject(2))
	c2.ExpiresAt = base().Add(2 * time.Hour)
	c3 := certificate("p2", "rev-3", base().Add(2*time.Minute), nil)
	for i, c := range []issuer.Certificate{c1, c2, c3} {
		mustRecord(t, s, issuance(c, []string{"01J0000000000000000000RV1", "01J0000000000000000000RV2", "01J0000000000000000000RV3"}[i]))
	}

	if revoked, err := s.RevokedAmong(ctx(t), []string{c1.UVCI, c2.UVCI}); err != nil || len(revoked) != 0 {
		t.Fatalf("RevokedAmong before: %v, %v", revoked, err)
	}
	if _, err := s.Revocation(ctx(t), c1.UVCI); !errors.Is(err, issuer.ErrNotFound) {
		t.Fatalf("Revocation before: %v", err)
	}
	at := base().Add(time.Hour)
	r1 := revocationOf(c1, "s_admin", at)
	got, created, err := s.Revoke(ctx(t), r1, revokeAudit(c1, "01J0000000000000000000RA1", issuer.OutcomeRevoked, at))
	if err != nil || !created {
		t.Fatalf("Revoke: created %v, %v", created, err)
	}
	equal(t, "revocation", got, r1)

	// A repeat by someone else, later, with another reason: nothing changes but its audit event.
	again := revocationOf(c1, "p1", at.Add(time.Minute))
	again.Reason = issuer.ReasonFraud
	got, created, err = s.Revoke(ctx(t), again, revokeAudit(c1, "01J0000000000000000000RA2", issuer.OutcomeRevoked, at.Add(time.Minute)))
	if err != nil || created {
		t.Fatalf("repeated Revoke: created %v, %v", created, err)
	}
	equal(t, "repeated revocation returns the first", got, r1)
	page, err := s.SearchAudit(ctx(t), issuer.AuditQuery{RequestID: "revoke-01J0000000000000000000RA2", Limit: 5})
	if err != nil || len(page.Events) != 1 {
		t.Fatalf("audit event of the repeat: %+v, %v", page, err)
	}
	if ev := page.Events[0]; ev.Outcome != issuer.OutcomeReplayed || !slices.Contains(ev.Notes, issuer.NoteAlreadyRevoked) {
		t.Errorf("audit event of the repeat: outcome %s notes %v", ev.Outcome, ev.Notes)
	}

	// An unknown UVCI: not found, and its audit event is not written either.
	ghost := certificate("p9", "ghost", base(), nil)
	if _, _, err := s.Revoke(ctx(t), revocationOf(ghost, "s_admin", at), revokeAudit(ghost, "01J0000000000000000000RA9", issuer.OutcomeRevoked, at)); !errors.Is(err, issuer.ErrNotFound) {
		t.Fatalf("Revoke of an unknown UVCI: %v", err)
	}
	events := allEvents(t, s, issuer.AuditQuery{UVCI: c1.UVCI}, 10)
	equal(t, "audit events of the revoked certificate", ids(events),
		[]string{"01J0000000000000000000RA2", "01J0000000000000000000RA1", "01J0000000000000000000RV1"})
	if ev := allEvents(t, s, issuer.AuditQuery{UVCI: ghost.UVCI}, 10); len(ev) != 0 {
		t.Errorf("audit events of an unknown UVCI: %v", ids(ev))
	}

	r2 := revocationOf(c2, "p1", at.Add(2*time.Minute))
	if _, _, err := s.Revoke(ctx(t), r2, revokeAudit(c2, "01J0000000000000000000RA3", issuer.OutcomeRevoked, r2.RevokedAt)); err != nil {
		t.Fatal(err)
	}
	revoked, err := s.RevokedAmong(ctx(t), []string{c1.UVCI, c2.UVCI, c3.UVCI, ghost.UVCI})
	equal(t, "RevokedAmong after", revoked, map[string]bool{c1.UVCI: true, c2.UVCI: true})
	if err != nil {
		t.Fatal(err)
	}
	if revoked, err := s.RevokedAmong(ctx(t), nil); err != nil || len(revoked) != 0 {
		t.Fatalf("RevokedAmong of none: %v, %v", revoked, err)
	}
	list, err := s.Revocations(ctx(t), base())
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "revocations, oldest first", list, []issuer.Revocation{r1, r2})
	// c2 expires two hours after base: from then on only r1 is listed.
	list, err = s.Revocations(ctx(t), c2.ExpiresAt)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "revocations of unexpired certificates", list, []issuer.Revocation{r1})

	s.Close()
	s = open(t)
	got, err = s.Revocation(ctx(t), c1.UVCI)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "revocation after reopening", got, r1)
}

// Concurrent revocations of one certificate create it exactly once, and every one is audited.
func testConcurrentRevocations(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	c := certificate("p1", "race", base(), nil)
	mustRecord(t, s, issuance(c, "01J0000000000000000000RC0"))
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	createdCount := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := base().Add(time.Duration(i+1) * time.Second)
			_, created, err := s.Revoke(ctx(t), revocationOf(c, "p1", at), revokeAudit(c, "", issuer.OutcomeRevoked, at))
			if err != nil {
				t.Errorf("Revoke %d: %v", i, err)
				return
			}
			if created {
				mu.Lock()
				createdCount++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if createdCount != 1 {
		t.Errorf("%d revocations created, want 1", createdCount)
	}
	if ev := allEvents(t, s, issuer.AuditQuery{UVCI: c.UVCI}, 20); len(ev) != n+1 {
		t.Errorf("%d audit events, want %d", len(ev), n+1)
	}
}

// Signing certificates are remembered once each, first used first, across a restart.
func testSigningCertificates(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	if list, err := s.SigningCertificates(ctx(t)); err != nil || len(list) != 0 {
		t.Fatalf("empty store: %v, %v", list, err)
	}
	a := issuer.SigningCertificate{Environment: issuer.Production, Certificate: []byte("DER of A"), FirstUsedAt: base()}
	b := issuer.SigningCertificate{Environment: issuer.Sandbox, Certificate: []byte("DER of B"), FirstUsedAt: base().Add(time.Hour)}
	for _, c := range []issuer.SigningCertificate{b, a} {
		if err := s.RecordSigningCertificate(ctx(t), c); err != nil {
			t.Fatal(err)
		}
	}
	later := a
	later.FirstUsedAt = base().Add(48 * time.Hour)
	if err := s.RecordSigningCertificate(ctx(t), later); err != nil {
		t.Fatalf("recording a known DSC again: %v", err)
	}
	s.Close()
	s = open(t)
	list, err := s.SigningCertificates(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "signing certificates", list, []issuer.SigningCertificate{a, b})
}
