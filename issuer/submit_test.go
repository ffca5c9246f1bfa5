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
	"github.com/sedcc/dcc/issuer/store/embedded"
	"github.com/sedcc/dcc/registry/fileregister"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/uvci"
	"github.com/sedcc/dcc/signing/valueset"
)

func realSigner(t *testing.T) issuer.Signer {
	t.Helper()
	key, cert, err := keys.Generate(t.TempDir(), keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := hcert.NewSigner(key, cert)
	if err != nil {
		t.Fatal(err)
	}
	return issuer.HCertSigner{Signer: s, Country: "SE"}
}

// certFailingStore fails every write that carries a certificate, as a store that rejects a
// constraint would, and passes everything else through.
type certFailingStore struct{ issuer.IssuanceStore }

func (c certFailingStore) Record(ctx context.Context, r issuer.Record) error {
	if r.Certificate != nil {
		return errors.New("constraint violated")
	}
	return c.IssuanceStore.Record(ctx, r)
}

// TestFailedCertificateWriteIsAudited: when the certificate cannot be stored the answer is a 500
// without detail (not an outage), and the request still leaves its audit event.
func TestFailedCertificateWriteIsAudited(t *testing.T) {
	ctx := context.Background()
	st, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Second)
	reg, err := fileregister.Open("", now)
	if err != nil {
		t.Fatal(err)
	}
	values := valueset.MustLoad()
	var n int
	svc, err := issuer.New(issuer.Options{
		Store:           certFailingStore{st},
		Signers:         map[issuer.Environment]issuer.Signer{issuer.Sandbox: realSigner(t)},
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
	p := issuer.Principal{ID: "p1", Role: issuer.RoleProvider, Environment: issuer.Sandbox, Kinds: []issuer.Kind{issuer.KindTest}}
	_, err = svc.Submit(ctx, issuer.Submission{Kind: issuer.KindTest, Principal: p, RequestID: "req-1", Route: "POST /observation",
		Body: fhirtest.Observation(fhirtest.RAT, fhirtest.Now(now))})
	probs, ok := problem.As(err)
	if !ok || probs.Class() != problem.ClassInternal || !probs.Has(problem.CodeInternal) {
		t.Fatalf("answer %v", err)
	}
	page, err := st.SearchAudit(ctx, issuer.AuditQuery{RequestID: "req-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 || page.Events[0].Outcome != issuer.OutcomeFailed || page.Events[0].Status != 500 || page.Events[0].UVCI != "" {
		t.Fatalf("audit %+v", page.Events)
	}
}
