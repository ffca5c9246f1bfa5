package issuer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/policy"
)

// TestSubmitRules: the issuer's rules, without HTTP. Each case sends its earlier requests, then
// one more, and checks the answer and the one audit event that request leaves.
func TestSubmitRules(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	sandbox := issuer.Principal{ID: "p_sandboxaaaaaaa", Role: issuer.RoleProvider, Environment: issuer.Sandbox,
		Kinds: []issuer.Kind{issuer.KindTest, issuer.KindRecovery, issuer.KindVaccination}}
	testOnly := sandbox
	testOnly.Kinds = []issuer.Kind{issuer.KindTest}
	production := sandbox
	production.Environment = issuer.Production
	unknown := fhirtest.MakePersonnummer("19800101", "123")

	type req struct {
		kind      issuer.Kind
		principal issuer.Principal
		requestID string // "" generates one
		body      []byte
	}
	obs := func(opts ...fhirtest.Option) []byte {
		return fhirtest.Observation(fhirtest.RAT, append([]fhirtest.Option{fhirtest.Now(now)}, opts...)...)
	}
	test := func(p issuer.Principal, id string, body []byte) req { return req{issuer.KindTest, p, id, body} }
	cases := []struct {
		name    string
		before  []req
		req     req
		status  int
		codes   string // the answer's codes, comma-separated
		outcome issuer.Outcome
		source  issuer.IdentitySource
		notes   string // a note the event must carry
	}{
		{name: "issued from the register", req: test(sandbox, "", obs()), status: 200, outcome: issuer.OutcomeIssued, source: issuer.SourceRegister},
		{name: "issued to a person without personnummer", req: test(sandbox, "", obs(fhirtest.WithoutPNR(), fhirtest.Name("Svensson", "Anna"), fhirtest.BirthDate("1990-01-02"))),
			status: 200, outcome: issuer.OutcomeIssued, source: issuer.SourceProvided},
		{name: "kind not granted", req: req{issuer.KindRecovery, testOnly, "", fhirtest.Observation(fhirtest.Recovery)},
			status: 403, codes: problem.CodeKindNotGranted, outcome: issuer.OutcomeRejected},
		{name: "invalid content", req: test(sandbox, "", obs(fhirtest.PNR("191212121213"))),
			status: 422, codes: problem.CodePersonnummerChecksum, outcome: issuer.OutcomeRejected},
		{name: "test data in production", req: test(production, "", obs(fhirtest.TestData(), fhirtest.PNR(unknown))),
			status: 422, codes: problem.CodeTestDataInProduction, outcome: issuer.OutcomeRejected},
		{name: "test identity in production", req: test(production, "", obs()),
			status: 422, codes: problem.CodeTestDataInProduction, outcome: issuer.OutcomeRejected},
		// Reported together with the request's other problems, not alone and not after a second try.
		{name: "test data in production with another problem", req: test(production, "", obs(fhirtest.TestData(), fhirtest.PNR("191212121213"))),
			status: 422, codes: problem.CodeTestDataInProduction + "," + problem.CodePersonnummerChecksum, outcome: issuer.OutcomeRejected},
		{name: "test identity in production with another problem", req: test(production, "", obs(fhirtest.AtRaw("2026-11-27T10:00:00+0100"))),
			status: 422, codes: problem.CodeTestDataInProduction + "," + problem.CodeDateTimeInvalid, outcome: issuer.OutcomeRejected},
		{name: "person not in the register", req: test(sandbox, "", obs(fhirtest.PNR(unknown))),
			status: 422, codes: problem.CodePersonNotFound, outcome: issuer.OutcomeRejected},
		{name: "same Identifier, same content", before: []req{test(sandbox, "", obs(fhirtest.Identifier("ID-1")))},
			req: test(sandbox, "", obs(fhirtest.Identifier("ID-1"))), status: 200, outcome: issuer.OutcomeReplayed, source: issuer.SourceRegister, notes: "identifier-replay"},
		{name: "same Identifier, other content", before: []req{test(sandbox, "", obs(fhirtest.Identifier("ID-1")))},
			req: test(sandbox, "", obs(fhirtest.Identifier("ID-1"), fhirtest.Age(time.Hour))), status: 409, codes: problem.CodeIdentifierConflict, outcome: issuer.OutcomeRejected},
		{name: "request id replayed", before: []req{test(sandbox, "r-1", obs(fhirtest.Identifier("ID-2")))},
			req: test(sandbox, "r-1", obs(fhirtest.Identifier("ID-2"))), status: 200, outcome: issuer.OutcomeReplayed, notes: "request-id-replay"},
		{name: "request id reused for another body", before: []req{test(sandbox, "r-1", obs(fhirtest.Identifier("ID-2")))},
			req: test(sandbox, "r-1", obs(fhirtest.Identifier("ID-3"))), status: 409, codes: problem.CodeRequestIDReused, outcome: issuer.OutcomeRejected},
		{name: "refusal replayed by request id", before: []req{test(sandbox, "r-2", obs(fhirtest.PNR("191212121213")))},
			req: test(sandbox, "r-2", obs(fhirtest.PNR("191212121213"))), status: 422, codes: problem.CodePersonnummerChecksum, outcome: issuer.OutcomeReplayed, notes: "request-id-replay"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := openEmbedded(t)
			svc := newService(t, st, now, policy.Default())
			n := 0
			submit := func(r req) (issuer.Issued, string, error) {
				n++
				id, client := r.requestID, r.requestID != ""
				if !client {
					id = fmt.Sprintf("gen-%d", n)
				}
				out, err := svc.Submit(ctx, issuer.Submission{Kind: r.kind, Principal: r.principal, RequestID: id,
					ClientRequestID: client, Route: "POST /" + string(r.kind), Body: r.body})
				return out, id, err
			}
			for _, b := range tc.before {
				submit(b)
			}
			out, id, err := submit(tc.req)
			status, codes := 200, ""
			if err != nil {
				l, ok := problem.As(err)
				if !ok {
					t.Fatalf("answer is not a problem.List: %v", err)
				}
				status, codes = l.Status(), strings.Join(l.Codes(), ",")
			}
			if status != tc.status || codes != tc.codes {
				t.Fatalf("answer %d %q, want %d %q (%v)", status, codes, tc.status, tc.codes, err)
			}
			if err == nil && (out.Certificate.UVCI == "" || out.Replayed != (tc.outcome == issuer.OutcomeReplayed)) {
				t.Errorf("answer %+v", out.Certificate)
			}
			page, err := st.SearchAudit(ctx, issuer.AuditQuery{RequestID: id})
			if err != nil {
				t.Fatal(err)
			}
			evs := page.Events
			if tc.req.requestID != "" {
				evs = evs[:min(1, len(evs))] // the newest: the earlier request shares the id
			}
			if len(evs) != 1 {
				t.Fatalf("%d audit events for the request", len(evs))
			}
			ev := evs[0]
			if ev.Outcome != tc.outcome || ev.Status != tc.status || strings.Join(ev.Codes, ",") != tc.codes || ev.IdentitySource != tc.source && tc.source != "" {
				t.Errorf("audit event %+v", ev)
			}
			if tc.notes != "" && !strings.Contains(strings.Join(ev.Notes, ","), tc.notes) {
				t.Errorf("notes %v, want %s", ev.Notes, tc.notes)
			}
			if ev.PrincipalID != tc.req.principal.ID || ev.Kind != tc.req.kind || ev.Latency < 0 {
				t.Errorf("audit event %+v", ev)
			}
		})
	}
}
