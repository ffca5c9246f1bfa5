package issuer_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir"
	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/policy"
	"github.com/sedcc/dcc/issuer/store/embedded"
	"github.com/sedcc/dcc/registry/fileregister"
	"github.com/sedcc/dcc/signing/uvci"
	"github.com/sedcc/dcc/signing/valueset"
)

// newService is an issuer on the embedded store with a real signer and the file register, its
// parser and itself given one policy, at a fixed time.
func newService(t *testing.T, st issuer.Store, now time.Time, pol policy.Issuance) *issuer.Service {
	t.Helper()
	reg, err := fileregister.Open("", now)
	if err != nil {
		t.Fatal(err)
	}
	values := valueset.MustLoad()
	var n int
	svc, err := issuer.New(issuer.Options{
		Config:          issuer.Config{Policy: pol},
		Store:           st,
		Signers:         map[issuer.Environment]issuer.Signer{issuer.Sandbox: signerValid(t, now.Add(-time.Hour), 365*24*time.Hour)},
		UVCIs:           uvci.Generator{Country: "SE", Prefix: "T"},
		Register:        reg,
		SandboxRegister: reg,
		Parser:          fhir.NewParser(fhir.Options{Now: func() time.Time { return now }, Values: values, Policy: pol}),
		Values:          values,
		SubjectKey:      bytes.Repeat([]byte{1}, 32),
		Clock:           func() time.Time { return now },
		NewID:           func() string { n++; return fmt.Sprintf("ev-%03d", n) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func openEmbedded(t *testing.T) issuer.Store {
	t.Helper()
	st, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestRecoveryDatesFollowTheCheck: through parser and issuer together, a recovery accepted at
// the window's edge gets a certificate valid on the day it is issued (df no later than the
// issuance date, du no earlier), for samples sent in UTC and in other offsets, across both
// changes of daylight saving time. A request refused by the window is refused by the parser.
func TestRecoveryDatesFollowTheCheck(t *testing.T) {
	cases := []struct {
		name, sampled, now string
		want               string // "" issued, else the problem code
	}{
		{"UTC evening sample, day 11 just begun", "2026-01-10T23:30:00Z", "2026-01-21T23:00:30Z", ""},
		{"UTC evening sample, day 10 ending", "2026-01-10T23:30:00Z", "2026-01-21T22:59:30Z", problem.CodeRecoveryTooRecent},
		{"New York evening sample, day 11", "2026-01-10T19:30:00-05:00", "2026-01-21T23:00:30Z", ""},
		{"spring change, day 11 just begun", "2026-03-18T23:30:00Z", "2026-03-29T22:00:30Z", ""},
		{"spring change, day 10 ending", "2026-03-18T23:30:00Z", "2026-03-29T21:59:30Z", problem.CodeRecoveryTooRecent},
		{"autumn change, day 11 just begun", "2026-10-14T22:30:00Z", "2026-10-25T23:00:30Z", ""},
		{"du, last minute", "2026-01-10T23:30:00Z", "2026-07-10T21:59:00Z", ""},
		{"du passed", "2026-01-10T23:30:00Z", "2026-07-10T22:00:30Z", problem.CodeRecoveryTooOld},
	}
	pol := policy.Default()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now, err := time.Parse(time.RFC3339, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			svc := newService(t, openEmbedded(t), now, pol)
			p := issuer.Principal{ID: "p_aaaaaaaaaaaaaaaa", Role: issuer.RoleProvider, Environment: issuer.Sandbox, Kinds: []issuer.Kind{issuer.KindRecovery}}
			out, err := svc.Submit(context.Background(), issuer.Submission{Kind: issuer.KindRecovery, Principal: p,
				RequestID: fmt.Sprintf("req-%d", i), Route: "POST /recovery",
				Body: fhirtest.Observation(fhirtest.Recovery, fhirtest.AtRaw(tc.sampled), fhirtest.Identifier(fmt.Sprintf("R-%d", i)))})
			if tc.want != "" {
				if l, ok := problem.As(err); !ok || !l.Has(tc.want) {
					t.Fatalf("want %s, got %v", tc.want, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := out.Payload.Recovery[0]
			issued := now.In(pol.Zone).Format(time.DateOnly)
			if r.ValidFrom > issued || r.ValidUntil < issued {
				t.Errorf("issued %s with df %s du %s (fr %s)", issued, r.ValidFrom, r.ValidUntil, r.FirstPositive)
			}
			if out.Certificate.ExpiresAt.Before(now) || out.Certificate.ExpiresAt.After(pol.Recovery(mustTime(t, tc.sampled)).End) {
				t.Errorf("exp %s", out.Certificate.ExpiresAt)
			}
		})
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
