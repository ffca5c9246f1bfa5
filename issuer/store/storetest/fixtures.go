package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer"
)

// base is the suite's reference time: microsecond precision, UTC.
func base() time.Time { return time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC) }

func ctx(t *testing.T) context.Context { return t.Context() }

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// subject is a stand-in for the issuer's keyed hash of a personnummer.
func subject(n int) []byte { return hash(fmt.Sprintf("subject-%d", n)) }

func certificate(provider, identifier string, issued time.Time, subjectKey []byte) issuer.Certificate {
	uvci := fmt.Sprintf("URN:UVCI:01:SE:%s/%s#X", provider, identifier)
	return issuer.Certificate{
		UVCI:           uvci,
		ProviderID:     provider,
		Identifier:     identifier,
		Kind:           issuer.KindTest,
		Environment:    issuer.Sandbox,
		ContentHash:    hash("content " + uvci),
		SubjectKey:     subjectKey,
		HC1:            "HC1:6BFOXN*TS0BI$ZD" + identifier,
		KID:            []byte{0x25, 0x31, 0xab, 0x0f, 0x10, 0x7e, 0x33, 0x9a},
		IdentitySource: issuer.SourceRegister,
		Delivery:       issuer.DeliveryMailbox,
		RequestID:      "req-" + identifier,
		IssuedAt:       issued,
		ExpiresAt:      issued.Add(72 * time.Hour),
	}
}

func auditFor(c issuer.Certificate, id string) issuer.AuditEvent {
	return issuer.AuditEvent{
		ID:             id,
		At:             c.IssuedAt,
		RequestID:      c.RequestID,
		PrincipalID:    c.ProviderID,
		Role:           issuer.RoleProvider,
		Route:          "POST /observation",
		Status:         200,
		Outcome:        issuer.OutcomeIssued,
		Kind:           c.Kind,
		Environment:    c.Environment,
		IdentitySource: c.IdentitySource,
		UVCI:           c.UVCI,
		SubjectMasked:  "19121212****",
		SubjectKey:     c.SubjectKey,
		Latency:        87*time.Millisecond + 123*time.Microsecond,
		Notes:          []string{"register-ok"},
	}
}

func requestFor(c issuer.Certificate) issuer.RequestRecord {
	return issuer.RequestRecord{
		PrincipalID: c.ProviderID,
		RequestID:   c.RequestID,
		BodyHash:    hash("body " + c.RequestID),
		Status:      200,
		UVCI:        c.UVCI,
		CreatedAt:   c.IssuedAt,
	}
}

// issuance is the Record of one successful issuance.
func issuance(c issuer.Certificate, auditID string) issuer.Record {
	r := requestFor(c)
	return issuer.Record{Audit: auditFor(c, auditID), Certificate: &c, Request: &r}
}

func mustRecord(t *testing.T, s issuer.Store, r issuer.Record) {
	t.Helper()
	if err := s.Record(ctx(t), r); err != nil {
		t.Fatalf("Record (audit %s): %v", r.Audit.ID, err)
	}
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// allEvents pages through a search with the given page size and returns every event, checking
// each page's size and that the walk ends.
func allEvents(t *testing.T, s issuer.Store, q issuer.AuditQuery, limit int) []issuer.AuditEvent {
	t.Helper()
	q.Limit = limit
	var all []issuer.AuditEvent
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatalf("search %+v: paging does not end", q)
		}
		page, err := s.SearchAudit(ctx(t), q)
		if err != nil {
			t.Fatalf("SearchAudit(%+v): %v", q, err)
		}
		if len(page.Events) > limit {
			t.Fatalf("page of %d events, limit %d", len(page.Events), limit)
		}
		all = append(all, page.Events...)
		if page.Next == "" {
			return all
		}
		if len(page.Events) != limit {
			t.Fatalf("page of %d events with a next cursor, limit %d", len(page.Events), limit)
		}
		q.Cursor = page.Next
	}
}

func ids(events []issuer.AuditEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func uvcis(certs []issuer.Certificate) []string {
	out := make([]string, len(certs))
	for i, c := range certs {
		out[i] = c.UVCI
	}
	return out
}

func ptr(t time.Time) *time.Time { return &t }
