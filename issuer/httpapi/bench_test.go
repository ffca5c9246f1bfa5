package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer/admission"
	"github.com/sedcc/dcc/registry/standin"
)

// Issuance throughput over HTTP: each benchmark runs 32 concurrent clients (RunParallel with
// parallelism 16 per CPU on this 2-CPU machine) posting distinct RAT observations through the
// whole path: parse, validate, register, sign, durable write, QR and PDF rendering.
//
//	go test -run '^$' -bench BenchmarkIssue -benchtime 2000x ./issuer/httpapi/
//
// Figures are in docs/perf.md.

func benchIssue(b *testing.B, e *testEnv, body func(i int64) []byte) {
	benchIssueAt(b, e, "/api/v1/observation", body)
}

func benchIssueAt(b *testing.B, e *testEnv, path string, body func(i int64) []byte) {
	b.Helper()
	var seq atomic.Int64
	var failures atomic.Int64
	clients := 32
	b.SetParallelism((clients + 1) / 2)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a := e.post(path, e.sandbox, body(seq.Add(1)))
			if a.status != http.StatusOK {
				failures.Add(1)
			}
		}
	})
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "certs/s")
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d of %d requests failed", f, b.N)
	}
}

func BenchmarkIssue(b *testing.B) {
	for _, st := range stores {
		b.Run(st+"/test", func(b *testing.B) {
			e := newEnv(b, st, envOptions{})
			benchIssue(b, e, func(i int64) []byte {
				return fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.PNR("198503122387"), fhirtest.Identifier(fmt.Sprintf("B-%d", i)))
			})
		})
		b.Run(st+"/vaccination", func(b *testing.B) {
			e := newEnv(b, st, envOptions{})
			benchIssueAt(b, e, "/api/v1/immunization", func(i int64) []byte {
				return fhirtest.Immunization(fhirtest.Comirnaty, fhirtest.Now(e.now), fhirtest.PNR("198503122387"), fhirtest.Identifier(fmt.Sprintf("V-%d", i)))
			})
		})
	}
}

// BenchmarkIssueRegister compares issuance with the HTTP register up and with it fully down
// (the birth-date fallback): with the breaker open, an outage costs nothing.
func BenchmarkIssueRegister(b *testing.B) {
	for _, mode := range []string{"register-up", "register-down"} {
		b.Run(mode, func(b *testing.B) {
			rig := newRegisterRig(b)
			e := newEnv(b, "embedded", envOptions{register: rig.client})
			if mode == "register-down" {
				if err := rig.standin.SetFaults(standin.Faults{Outage: true}); err != nil {
					b.Fatal(err)
				}
			}
			benchIssue(b, e, func(i int64) []byte {
				return fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.PNR("198503122387"),
					fhirtest.Name("Öberg", "Åsa"), fhirtest.BirthDate("1985-03-12"), fhirtest.Identifier(fmt.Sprintf("B-%d", i)))
			})
		})
	}
}

// BenchmarkRefusal measures what turning a request away costs while the issuance budget is full:
// the price every excess request pays during a rush.
func BenchmarkRefusal(b *testing.B) {
	lim, err := admission.New(admission.Config{Name: "issue", Limit: 1})
	if err != nil {
		b.Fatal(err)
	}
	held, _, _ := lim.Acquire(context.Background())
	defer held.Release()
	e := newEnv(b, "embedded", envOptions{admit: lim})
	body := fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if a := e.post("/api/v1/observation", e.sandbox, body); a.status != http.StatusServiceUnavailable {
				b.Errorf("status %d", a.status)
			}
		}
	})
}
