package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer"
)

func testRecordAndLookUp(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	issued := base().Add(123456789 * time.Nanosecond) // kept to the microsecond
	c := certificate("prov-1", "lab-0001", issued, subject(1))
	r := issuance(c, "ev-1")
	mustRecord(t, s, r)

	want := c
	want.IssuedAt = issued.Truncate(time.Microsecond)
	want.ExpiresAt = c.ExpiresAt.Truncate(time.Microsecond)

	got, err := s.CertificateByIdentifier(ctx(t), "prov-1", "lab-0001")
	if err != nil {
		t.Fatalf("CertificateByIdentifier: %v", err)
	}
	equal(t, "CertificateByIdentifier", got, want)

	got, err = s.CertificateByUVCI(ctx(t), c.UVCI)
	if err != nil {
		t.Fatalf("CertificateByUVCI: %v", err)
	}
	equal(t, "CertificateByUVCI", got, want)

	wantReq := *r.Request
	wantReq.CreatedAt = want.IssuedAt
	gotReq, err := s.Request(ctx(t), "prov-1", c.RequestID)
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	equal(t, "Request", gotReq, wantReq)

	wantEv := r.Audit
	wantEv.At = want.IssuedAt
	page, err := s.SearchAudit(ctx(t), issuer.AuditQuery{RequestID: c.RequestID})
	if err != nil {
		t.Fatalf("SearchAudit: %v", err)
	}
	equal(t, "audit events", page.Events, []issuer.AuditEvent{wantEv})
	if page.Next != "" {
		t.Errorf("single page has Next %q", page.Next)
	}

	notFound := map[string]error{}
	_, notFound["identifier of another provider"] = s.CertificateByIdentifier(ctx(t), "prov-2", "lab-0001")
	_, notFound["unknown identifier"] = s.CertificateByIdentifier(ctx(t), "prov-1", "lab-0002")
	_, notFound["unknown uvci"] = s.CertificateByUVCI(ctx(t), "URN:UVCI:01:SE:NOPE")
	_, notFound["request of another principal"] = s.Request(ctx(t), "prov-2", c.RequestID)
	_, notFound["unknown request"] = s.Request(ctx(t), "prov-1", "req-unknown")
	for what, err := range notFound {
		if !errors.Is(err, issuer.ErrNotFound) {
			t.Errorf("%s: error %v, want ErrNotFound", what, err)
		}
	}
}

func testRecordWithoutCertificate(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	rejected := issuer.AuditEvent{
		ID:            "ev-rej",
		At:            base(),
		RequestID:     "req-rej",
		PrincipalID:   "prov-1",
		Role:          issuer.RoleProvider,
		Route:         "POST /recovery",
		Status:        422,
		Outcome:       issuer.OutcomeRejected,
		Codes:         []string{"personnummer-checksum", "timezone-missing"},
		Kind:          issuer.KindRecovery,
		Environment:   issuer.Production,
		SubjectMasked: "19121212****",
		SubjectKey:    subject(7),
		Latency:       3 * time.Millisecond,
	}
	req := issuer.RequestRecord{
		PrincipalID: "prov-1",
		RequestID:   "req-rej",
		BodyHash:    hash("body"),
		Status:      422,
		Body:        []byte(`{"resourceType":"OperationOutcome"}`),
		CreatedAt:   base(),
	}
	mustRecord(t, s, issuer.Record{Audit: rejected, Request: &req})

	gotReq, err := s.Request(ctx(t), "prov-1", "req-rej")
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	equal(t, "Request", gotReq, req)

	page, err := s.SearchAudit(ctx(t), issuer.AuditQuery{RequestID: "req-rej"})
	if err != nil {
		t.Fatalf("SearchAudit: %v", err)
	}
	equal(t, "rejected event", page.Events, []issuer.AuditEvent{rejected})

	certs, err := s.CertificatesBySubject(ctx(t), subject(7))
	if err != nil {
		t.Fatalf("CertificatesBySubject: %v", err)
	}
	if len(certs) != 0 {
		t.Errorf("a rejected request left certificates: %v", uvcis(certs))
	}

	// An unauthenticated request: no principal, no request record, no ID given.
	anon := issuer.AuditEvent{At: base().Add(time.Second), RequestID: "gen-1", Route: "POST /observation",
		Status: 401, Outcome: issuer.OutcomeRejected, Codes: []string{"unauthenticated"}}
	mustRecord(t, s, issuer.Record{Audit: anon})
	page, err = s.SearchAudit(ctx(t), issuer.AuditQuery{RequestID: "gen-1"})
	if err != nil {
		t.Fatalf("SearchAudit: %v", err)
	}
	if len(page.Events) != 1 {
		t.Fatalf("unauthenticated request: %d events, want 1", len(page.Events))
	}
	if page.Events[0].ID == "" {
		t.Error("an event recorded without an ID has none")
	}
	anon.ID = page.Events[0].ID
	equal(t, "unauthenticated event", page.Events[0], anon)
}

// attemptsWriteNothing checks that neither the audit event nor the request record of a refused
// Record is visible; callers check its certificate.
func attemptsWriteNothing(t *testing.T, s issuer.Store, failed issuer.Record) {
	t.Helper()
	page, err := s.SearchAudit(ctx(t), issuer.AuditQuery{RequestID: failed.Audit.RequestID})
	if err != nil {
		t.Fatalf("SearchAudit: %v", err)
	}
	for _, e := range page.Events {
		if e.ID == failed.Audit.ID {
			t.Errorf("audit event %s of the refused Record was written", e.ID)
		}
	}
	if q := failed.Request; q != nil {
		got, err := s.Request(ctx(t), q.PrincipalID, q.RequestID)
		if err == nil && string(got.BodyHash) == string(q.BodyHash) && got.UVCI == q.UVCI {
			t.Errorf("request record %s of the refused Record was written", q.RequestID)
		}
	}
}

func testDuplicateIdentifier(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	first := certificate("prov-1", "lab-7", base(), subject(1))
	mustRecord(t, s, issuance(first, "ev-1"))

	again := certificate("prov-1", "lab-7", base().Add(time.Minute), subject(2))
	again.UVCI, again.RequestID = "URN:UVCI:01:SE:OTHER#Y", "req-second"
	second := issuance(again, "ev-2")
	err := s.Record(ctx(t), second)
	if !errors.Is(err, issuer.ErrIdentifierTaken) {
		t.Fatalf("Record of a taken identifier: error %v, want ErrIdentifierTaken", err)
	}
	attemptsWriteNothing(t, s, second)
	if _, err := s.CertificateByUVCI(ctx(t), again.UVCI); !errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("certificate of the refused Record: error %v, want ErrNotFound", err)
	}
	if _, err := s.Request(ctx(t), "prov-1", "req-second"); !errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("request of the refused Record: error %v, want ErrNotFound", err)
	}
	got, err := s.CertificateByIdentifier(ctx(t), "prov-1", "lab-7")
	if err != nil {
		t.Fatalf("CertificateByIdentifier: %v", err)
	}
	equal(t, "the first certificate", got, first)
	all := allEvents(t, s, issuer.AuditQuery{}, 50)
	equal(t, "audit events", ids(all), []string{"ev-1"})

	// The same identifier from another provider is another certificate.
	other := certificate("prov-2", "lab-7", base(), subject(1))
	mustRecord(t, s, issuance(other, "ev-3"))
}

func testDuplicateRequestID(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	first := certificate("prov-1", "lab-1", base(), subject(1))
	mustRecord(t, s, issuance(first, "ev-1"))

	next := certificate("prov-1", "lab-2", base().Add(time.Minute), subject(1))
	next.RequestID = first.RequestID // the client reused its X-Request-ID for another body
	second := issuance(next, "ev-2")
	second.Request.BodyHash = hash("another body")
	err := s.Record(ctx(t), second)
	if !errors.Is(err, issuer.ErrRequestIDTaken) {
		t.Fatalf("Record of a taken request id: error %v, want ErrRequestIDTaken", err)
	}
	if _, err := s.CertificateByIdentifier(ctx(t), "prov-1", "lab-2"); !errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("certificate of the refused Record: error %v, want ErrNotFound", err)
	}
	attemptsWriteNothing(t, s, second)
	gotReq, err := s.Request(ctx(t), "prov-1", first.RequestID)
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	equal(t, "the first request record", gotReq, requestFor(first))

	// A request without a certificate (a rejection) reusing the id is refused as well.
	rej := issuer.Record{
		Audit:   issuer.AuditEvent{ID: "ev-3", At: base(), RequestID: first.RequestID, PrincipalID: "prov-1", Outcome: issuer.OutcomeRejected, Status: 422},
		Request: &issuer.RequestRecord{PrincipalID: "prov-1", RequestID: first.RequestID, BodyHash: hash("x"), Status: 422, CreatedAt: base()},
	}
	if err := s.Record(ctx(t), rej); !errors.Is(err, issuer.ErrRequestIDTaken) {
		t.Errorf("rejection reusing a request id: error %v, want ErrRequestIDTaken", err)
	}
	equal(t, "audit events", ids(allEvents(t, s, issuer.AuditQuery{}, 50)), []string{"ev-1"})

	// Request ids are per principal.
	mine := certificate("prov-2", "lab-1", base(), subject(1))
	mine.RequestID = first.RequestID
	mustRecord(t, s, issuance(mine, "ev-4"))
}

func testDuplicateUVCI(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	first := certificate("prov-1", "lab-1", base(), subject(1))
	mustRecord(t, s, issuance(first, "ev-1"))
	clash := certificate("prov-1", "lab-2", base(), subject(1))
	clash.UVCI = first.UVCI
	r := issuance(clash, "ev-2")
	err := s.Record(ctx(t), r)
	if err == nil {
		t.Fatal("Record of a taken UVCI succeeded")
	}
	if errors.Is(err, issuer.ErrIdentifierTaken) || errors.Is(err, issuer.ErrRequestIDTaken) || errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("Record of a taken UVCI: error %v names a condition that did not occur", err)
	}
	if _, err := s.CertificateByIdentifier(ctx(t), "prov-1", "lab-2"); !errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("certificate of the refused Record: error %v, want ErrNotFound", err)
	}
	attemptsWriteNothing(t, s, r)

	dupEvent := issuance(certificate("prov-1", "lab-3", base(), nil), "ev-1")
	if err := s.Record(ctx(t), dupEvent); err == nil {
		t.Error("Record of a taken audit event id succeeded")
	}
	if _, err := s.CertificateByIdentifier(ctx(t), "prov-1", "lab-3"); !errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("certificate recorded with a refused audit event: error %v, want ErrNotFound", err)
	}
}

func testConcurrentRecords(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			c := certificate("prov-1", "same-identifier", base().Add(time.Duration(i)*time.Second), subject(1))
			c.UVCI = fmt.Sprintf("URN:UVCI:01:SE:RACE/%02d#Z", i)
			c.RequestID = fmt.Sprintf("req-%02d", i)
			<-start
			errs[i] = s.Record(ctx(t), issuance(c, fmt.Sprintf("ev-%02d", i)))
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("Records %d and %d of the same identifier both succeeded", winner, i)
			}
			winner = i
		case !errors.Is(err, issuer.ErrIdentifierTaken):
			t.Errorf("Record %d: error %v, want nil or ErrIdentifierTaken", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no Record of the identifier succeeded")
	}
	got, err := s.CertificateByIdentifier(ctx(t), "prov-1", "same-identifier")
	if err != nil {
		t.Fatalf("CertificateByIdentifier: %v", err)
	}
	if want := fmt.Sprintf("URN:UVCI:01:SE:RACE/%02d#Z", winner); got.UVCI != want {
		t.Errorf("stored certificate %s, want the winner's %s", got.UVCI, want)
	}
	equal(t, "audit events", ids(allEvents(t, s, issuer.AuditQuery{PrincipalID: "prov-1"}, 50)),
		[]string{fmt.Sprintf("ev-%02d", winner)})

	// Concurrent Records of different identifiers all succeed.
	for i := range n {
		wg.Go(func() {
			c := certificate("prov-2", fmt.Sprintf("lab-%02d", i), base(), subject(2))
			errs[i] = s.Record(ctx(t), issuance(c, fmt.Sprintf("ev-2-%02d", i)))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Record of distinct identifier %d: %v", i, err)
		}
	}
	certs, err := s.CertificatesBySubject(ctx(t), subject(2))
	if err != nil {
		t.Fatalf("CertificatesBySubject: %v", err)
	}
	if len(certs) != n {
		t.Errorf("%d certificates after %d concurrent Records, want %d", len(certs), n, n)
	}
}

func testCertificatesBySubject(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	// Recorded out of order; listed newest first.
	mine := []issuer.Certificate{
		certificate("prov-1", "a", base().Add(2*time.Hour), subject(1)),
		certificate("prov-2", "b", base(), subject(1)),
		certificate("prov-1", "c", base().Add(48*time.Hour), subject(1)),
		certificate("prov-3", "d", base().Add(time.Hour), subject(1)),
	}
	mine[3].Kind = issuer.KindVaccination
	for i, c := range mine {
		mustRecord(t, s, issuance(c, fmt.Sprintf("ev-%d", i)))
	}
	mustRecord(t, s, issuance(certificate("prov-1", "other", base().Add(time.Hour), subject(2)), "ev-other"))
	noPNR := certificate("prov-1", "nopnr", base().Add(time.Hour), nil)
	noPNR.IdentitySource, noPNR.Delivery = issuer.SourceProvided, issuer.DeliveryHandout
	mustRecord(t, s, issuance(noPNR, "ev-nopnr"))

	got, err := s.CertificatesBySubject(ctx(t), subject(1))
	if err != nil {
		t.Fatalf("CertificatesBySubject: %v", err)
	}
	equal(t, "certificates newest first", got, []issuer.Certificate{mine[2], mine[0], mine[3], mine[1]})

	none, err := s.CertificatesBySubject(ctx(t), subject(3))
	if err != nil {
		t.Fatalf("CertificatesBySubject of a person without certificates: %v", err)
	}
	if len(none) != 0 {
		t.Errorf("person without certificates has %v", uvcis(none))
	}
	none, err = s.CertificatesBySubject(ctx(t), nil)
	if err != nil {
		t.Fatalf("CertificatesBySubject(nil): %v", err)
	}
	if len(none) != 0 {
		t.Errorf("CertificatesBySubject(nil) lists certificates without a subject: %v", uvcis(none))
	}
	got1, err := s.CertificateByUVCI(ctx(t), noPNR.UVCI)
	if err != nil {
		t.Fatalf("CertificateByUVCI: %v", err)
	}
	equal(t, "certificate without a subject", got1, noPNR)
}

// testRecordAudit: a batch of audit events is written whole and found by the audit search.
func testRecordAudit(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	var events []issuer.AuditEvent
	for i := range 20 {
		events = append(events, issuer.AuditEvent{
			ID:        fmt.Sprintf("ev-batch-%02d", i),
			At:        base().Add(time.Duration(i) * time.Millisecond),
			RequestID: fmt.Sprintf("req-batch-%02d", i),
			Route:     "POST /observation",
			Status:    503,
			Outcome:   issuer.OutcomeRejected,
			Codes:     []string{"overloaded"},
			Kind:      issuer.KindTest,
		})
	}
	if err := s.RecordAudit(ctx(t), events); err != nil {
		t.Fatalf("RecordAudit: %v", err)
	}
	page, err := s.SearchAudit(ctx(t), issuer.AuditQuery{Outcome: issuer.OutcomeRejected, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != len(events) {
		t.Fatalf("found %d events, wrote %d", len(page.Events), len(events))
	}
	// Newest first.
	equal(t, "newest event", page.Events[0], events[len(events)-1])
	if err := s.RecordAudit(ctx(t), nil); err != nil {
		t.Fatalf("RecordAudit of nothing: %v", err)
	}
}

// testPurgeRequests: request records older than the cut are deleted and counted; newer ones stay.
func testPurgeRequests(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	for i, age := range []time.Duration{72 * time.Hour, 48 * time.Hour, time.Hour} {
		ev := issuer.AuditEvent{ID: fmt.Sprintf("ev-purge-%d", i), At: base(), RequestID: fmt.Sprintf("req-purge-%d", i),
			Outcome: issuer.OutcomeRejected, Status: 422}
		req := issuer.RequestRecord{PrincipalID: "prov-1", RequestID: ev.RequestID, BodyHash: hash("b"), Status: 422,
			Body: []byte(`{}`), CreatedAt: base().Add(-age)}
		mustRecord(t, s, issuer.Record{Audit: ev, Request: &req})
	}
	n, err := s.PurgeRequests(ctx(t), base().Add(-24*time.Hour))
	if err != nil {
		t.Fatalf("PurgeRequests: %v", err)
	}
	if n != 2 {
		t.Fatalf("purged %d, want 2", n)
	}
	for i, want := range []error{issuer.ErrNotFound, issuer.ErrNotFound, nil} {
		_, err := s.Request(ctx(t), "prov-1", fmt.Sprintf("req-purge-%d", i))
		if !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Errorf("request %d after the purge: %v, want %v", i, err, want)
		}
	}
}
