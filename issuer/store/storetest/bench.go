package storetest

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer"
)

// SampleRecord is the Record of one issuance, of realistic size, unique by id.
func SampleRecord(id string) issuer.Record {
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	c := issuer.Certificate{
		UVCI: "URN:UVCI:01:SE:BENCH/" + id + "#K", ProviderID: "prov-bench", Identifier: id,
		Kind: issuer.KindTest, Environment: issuer.Sandbox, ContentHash: hash("content " + id),
		SubjectKey: hash("subject " + id), HC1: "HC1:" + strings.Repeat("6BF", 150), KID: hash("kid")[:8],
		IdentitySource: issuer.SourceRegister, Delivery: issuer.DeliveryMailbox, RequestID: "req-" + id,
		IssuedAt: at, ExpiresAt: at.Add(72 * time.Hour),
	}
	return issuer.Record{
		Certificate: &c,
		Request: &issuer.RequestRecord{PrincipalID: c.ProviderID, RequestID: c.RequestID, BodyHash: hash("body " + id),
			Status: 200, UVCI: c.UVCI, CreatedAt: at},
		Audit: issuer.AuditEvent{ID: "ev-" + id, At: at, RequestID: c.RequestID, PrincipalID: c.ProviderID,
			Role: issuer.RoleProvider, Route: "POST /observation", Status: 200, Outcome: issuer.OutcomeIssued,
			Kind: c.Kind, Environment: c.Environment, IdentitySource: c.IdentitySource, UVCI: c.UVCI,
			SubjectMasked: "19121212****", SubjectKey: c.SubjectKey, Latency: 40 * time.Millisecond},
	}
}

// SelfCPU is this process's user and system time so far, for benchmarks that report processor
// time per operation beside wall time (on a shared machine the wall time is others' too).
func SelfCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecord measures durable Records of one issuance each (certificate, request record
// and audit event in one transaction) from b.RunParallel's callers.
func BenchmarkRecord(b *testing.B, s issuer.Store) {
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Record(context.Background(), SampleRecord(strconv.FormatInt(n.Add(1), 10))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
