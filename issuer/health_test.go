package issuer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir"
	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/registry/fileregister"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/uvci"
	"github.com/sedcc/dcc/signing/valueset"
)

// signerValid is a signer whose DSC is valid from notBefore for validity.
func signerValid(t *testing.T, notBefore time.Time, validity time.Duration) issuer.Signer {
	t.Helper()
	key, cert, err := keys.Generate(t.TempDir(), keys.Options{Now: notBefore, Validity: validity})
	if err != nil {
		t.Fatal(err)
	}
	s, err := hcert.NewSigner(key, cert)
	if err != nil {
		t.Fatal(err)
	}
	return issuer.HCertSigner{Signer: s, Country: "SE"}
}

func serviceWithSigner(t *testing.T, st issuer.IssuanceStore, now time.Time, sg issuer.Signer) *issuer.Service {
	t.Helper()
	reg, err := fileregister.Open("", now)
	if err != nil {
		t.Fatal(err)
	}
	values := valueset.MustLoad()
	var n int
	svc, err := issuer.New(issuer.Options{
		Store:           st,
		Signers:         map[issuer.Environment]issuer.Signer{issuer.Sandbox: sg},
		UVCIs:           uvci.Generator{Country: "SE", Prefix: "T"},
		Register:        reg,
		SandboxRegister: reg,
		Parser:          fhir.NewParser(fhir.Options{Now: func() time.Time { return now }, Values: values}),
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

// TestSigningOutsideDSCValidity: with a DSC that has expired or is not yet valid, issuance
// answers 503 signing-unavailable with a Retry-After and records the request as failed; health
// (readiness) says the signer is down, with the same cause. Nothing is signed.
func TestSigningOutsideDSCValidity(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	year := 365 * 24 * time.Hour
	cases := []struct {
		name      string
		notBefore time.Time
		retry     func(notBefore time.Time) time.Duration
	}{
		{"expired", now.Add(-2 * year), func(time.Time) time.Duration { return 5 * time.Minute }},
		// Before NotBefore the wait is the time left (keys back-date NotBefore a little).
		{"not yet valid", now.Add(3 * time.Minute), func(nb time.Time) time.Duration { return nb.Sub(now) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := openEmbedded(t)
			sg := signerValid(t, tc.notBefore, year)
			svc := serviceWithSigner(t, st, now, sg)
			nb, _ := sg.Validity()
			retry := tc.retry(nb)
			p := issuer.Principal{ID: "p_aaaaaaaaaaaaaaaa", Role: issuer.RoleProvider, Environment: issuer.Sandbox, Kinds: []issuer.Kind{issuer.KindTest}}
			_, err := svc.Submit(context.Background(), issuer.Submission{Kind: issuer.KindTest, Principal: p, RequestID: "req-1",
				ClientRequestID: true, Route: "POST /observation", Body: fhirtest.Observation(fhirtest.RAT, fhirtest.Now(now))})
			l, ok := problem.As(err)
			if !ok || !l.Has(problem.CodeSigningUnavailable) || l.Status() != 503 || l.RetryAfter() != retry {
				t.Fatalf("answer %v (retry %v), want 503 signing-unavailable after %s", err, l.RetryAfter(), retry)
			}
			if !errors.Is(err, issuer.ErrSigningUnavailable) {
				t.Errorf("the cause is not kept: %v", err)
			}
			h := svc.Health(context.Background())
			if h.Ready() || !errors.Is(h.Signers[issuer.Sandbox].Err, issuer.ErrSigningUnavailable) {
				t.Errorf("health %+v, want the signer down", h.Signers)
			}
			page, err := st.SearchAudit(context.Background(), issuer.AuditQuery{RequestID: "req-1"})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Events) != 1 || page.Events[0].Status != 503 || page.Events[0].Outcome != issuer.OutcomeFailed {
				t.Errorf("audit %+v", page.Events)
			}
			// A transient refusal is not remembered: the retry after the DSC is renewed is a new request.
			if _, err := st.Request(context.Background(), p.ID, "req-1"); !errors.Is(err, issuer.ErrNotFound) {
				t.Errorf("request record kept for a transient refusal: %v", err)
			}
		})
	}
}

// TestExpiryCappedAtDSC: a certificate never outlives the DSC that signs it.
func TestExpiryCappedAtDSC(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	sg := signerValid(t, now.Add(-time.Hour), 2*time.Hour) // ends an hour from now; a test certificate asks 72 h
	svc := serviceWithSigner(t, openEmbedded(t), now, sg)
	p := issuer.Principal{ID: "p_aaaaaaaaaaaaaaaa", Role: issuer.RoleProvider, Environment: issuer.Sandbox, Kinds: []issuer.Kind{issuer.KindTest}}
	out, err := svc.Submit(context.Background(), issuer.Submission{Kind: issuer.KindTest, Principal: p, RequestID: "req-1",
		Route: "POST /observation", Body: fhirtest.Observation(fhirtest.RAT, fhirtest.Now(now))})
	if err != nil {
		t.Fatal(err)
	}
	_, notAfter := sg.Validity()
	d, err := hcert.Decode(out.Certificate.HC1)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Certificate.ExpiresAt.Equal(notAfter) || !d.Claims.Expiry.Equal(notAfter.Truncate(time.Second)) {
		t.Errorf("stored exp %s, signed exp %s, DSC ends %s", out.Certificate.ExpiresAt, d.Claims.Expiry, notAfter)
	}
}
