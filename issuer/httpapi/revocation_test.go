package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/sedcc/dcc/docs"
	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/httpapi"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/revocation"
	"github.com/sedcc/dcc/signing/trust"
)

func revokePath(uvci string) string {
	return "/api/v1/certificates/" + url.PathEscape(uvci) + "/revoke"
}

func compileSchema(t *testing.T, doc []byte) *docs.Schema {
	t.Helper()
	s, err := docs.CompileSchema(doc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validates(t *testing.T, s *docs.Schema, body []byte) {
	t.Helper()
	if err := s.Validate(body); err != nil {
		t.Errorf("document fails its schema: %v\n%s", err, body)
	}
}

// published checks the integrity headers of a published document against the trust list and
// returns the body.
func (e *testEnv) published(path string, list *trust.List) answer {
	e.t.Helper()
	a := e.do(http.MethodGet, path, "", nil)
	if a.status != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, a.status, a.body)
	}
	if a.header.Get("ETag") == "" || a.header.Get("Cache-Control") == "" {
		e.t.Errorf("GET %s: no ETag or Cache-Control: %v", path, a.header)
	}
	if err := trust.CheckDigest(a.header.Get(trust.DigestHeader), a.body); err != nil || a.header.Get(trust.DigestHeader) == "" {
		e.t.Errorf("GET %s: Content-Digest %q: %v", path, a.header.Get(trust.DigestHeader), err)
	}
	sig, err := base64.StdEncoding.DecodeString(a.header.Get(trust.SignatureHeader))
	if err != nil {
		e.t.Fatalf("GET %s: signature header: %v", path, err)
	}
	if _, err := hcert.VerifyDetached(sig, a.body, list); err != nil {
		e.t.Errorf("GET %s: signature does not verify: %v", path, err)
	}
	again := e.do(http.MethodGet, path, "", nil, "If-None-Match", a.header.Get("ETag"))
	if again.status != http.StatusNotModified || len(again.body) != 0 {
		e.t.Errorf("GET %s with If-None-Match: %d %s", path, again.status, again.body)
	}
	return a
}

// Revocation by role: the issuing provider revokes its own, another provider and plain support
// staff may not, a support administrator revokes any; a repeat answers the first revocation;
// every attempt is in the audit log under the UVCI; the published list carries the EU hashes.
func TestRevokeByRole(t *testing.T) {
	for _, sk := range stores {
		t.Run(sk, func(t *testing.T) {
			e := newEnv(t, sk, envOptions{})
			ctx := context.Background()
			now := fhirtest.Now(e.now)
			mine := e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox,
				fhirtest.Observation(fhirtest.RAT, now, fhirtest.Identifier("REV-1"))))
			theirs := e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.testOnly,
				fhirtest.Observation(fhirtest.RAT, now, fhirtest.Identifier("REV-2"))))
			_, admin, err := e.creds.Add(ctx, issuer.NewPrincipal{Name: "Support Admin", Role: issuer.RoleSupportAdmin})
			if err != nil {
				t.Fatal(err)
			}
			reason := []byte(`{"reason":"issued-in-error"}`)

			for _, tc := range []struct {
				name, key string
				status    int
				code      string
			}{
				{"no credential", "", http.StatusUnauthorized, problem.CodeUnauthenticated},
				{"a citizen's identity token is no credential here", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxOTEyMTIxMjEyMTIifQ.c2ln", http.StatusUnauthorized, problem.CodeUnauthenticated},
				{"another provider", e.testOnly, http.StatusForbidden, problem.CodeForbidden},
				{"support staff without admin", e.support, http.StatusForbidden, problem.CodeForbidden},
			} {
				a := e.post(revokePath(mine.uvci), tc.key, reason)
				if a.status != tc.status || !a.has(t, tc.code) {
					t.Errorf("%s: %d %s", tc.name, a.status, a.body)
				}
			}
			if a := e.post(revokePath(mine.uvci), e.sandbox, []byte(`{"reason":"because"}`)); a.status != http.StatusUnprocessableEntity || !a.has(t, problem.CodeRevocationReasonUnknown) {
				t.Errorf("unknown reason: %d %s", a.status, a.body)
			}
			if a := e.post(revokePath("URN:UVCI:01:SE:DCC/NOSUCH#X"), admin, reason); a.status != http.StatusNotFound {
				t.Errorf("unknown UVCI: %d %s", a.status, a.body)
			}
			if revoked, err := e.store.RevokedAmong(ctx, []string{mine.uvci}); err != nil || revoked[mine.uvci] {
				t.Fatalf("revoked after refusals: %v %v", revoked, err)
			}

			first := e.post(revokePath(mine.uvci), e.sandbox, reason)
			if first.status != http.StatusOK || first.json(t)["created"] != true || first.json(t)["uvci"] != mine.uvci {
				t.Fatalf("provider revokes its own: %d %s", first.status, first.body)
			}
			repeat := e.post(revokePath(mine.uvci), e.sandbox, []byte(`{"reason":"fraud"}`))
			if repeat.status != http.StatusOK || repeat.json(t)["created"] != false ||
				repeat.json(t)["revokedAt"] != first.json(t)["revokedAt"] || repeat.json(t)["reason"] != "issued-in-error" {
				t.Errorf("repeat: %d %s", repeat.status, repeat.body)
			}
			if a := e.post(revokePath(theirs.uvci), admin, []byte(`{"reason":"fraud"}`)); a.status != http.StatusOK || a.json(t)["created"] != true {
				t.Errorf("support admin revokes another provider's: %d %s", a.status, a.body)
			}
			for _, u := range []string{mine.uvci, theirs.uvci} {
				if revoked, err := e.store.RevokedAmong(ctx, []string{u}); err != nil || !revoked[u] {
					t.Errorf("%s not revoked: %v", u, err)
				}
			}

			// The audit log holds every attempt under the UVCI, newest first. Refusals before the
			// issuer travel through the audit queue, so wait for them.
			want := []issuer.Outcome{issuer.OutcomeReplayed, issuer.OutcomeRevoked, issuer.OutcomeRejected,
				issuer.OutcomeRejected, issuer.OutcomeRejected, issuer.OutcomeRejected, issuer.OutcomeRejected, issuer.OutcomeIssued}
			var outcomes []issuer.Outcome
			for deadline := time.Now().Add(5 * time.Second); ; {
				page, err := e.store.SearchAudit(ctx, issuer.AuditQuery{UVCI: mine.uvci, Limit: 50})
				if err != nil {
					t.Fatal(err)
				}
				outcomes = outcomes[:0]
				for _, ev := range page.Events {
					outcomes = append(outcomes, ev.Outcome)
				}
				if len(outcomes) >= len(want) || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if !slices.Equal(outcomes, want) {
				t.Errorf("audit outcomes under the UVCI: %v, want %v", outcomes, want)
			}

			// The published list holds both certificates under their kid, by all three hashes.
			own := e.trustList(issuer.Sandbox, issuer.Production)
			a := e.published("/api/v1/revocations", own)
			validates(t, compileSchema(t, docs.RevocationListSchema), a.body)
			var list revocation.List
			if err := json.Unmarshal(a.body, &list); err != nil {
				t.Fatal(err)
			}
			for _, c := range []issued{mine, theirs} {
				h, err := revocation.Of(c.decoded)
				if err != nil {
					t.Fatal(err)
				}
				for _, ht := range revocation.HashTypes {
					one := revocation.Hashes{}
					switch ht {
					case revocation.HashUCI:
						one.UCI = h.UCI
					case revocation.HashCountryCodeUCI:
						one.CountryCodeUCI = h.CountryCodeUCI
					case revocation.HashSignature:
						one.Signature = h.Signature
					}
					if !list.Contains(c.decoded.KID, one) {
						t.Errorf("%s: list lacks its %s hash", c.uvci, ht)
					}
				}
			}
			if list.Country != "SE" || len(list.Batches) != 3 {
				t.Errorf("list: country %q, %d batches (one kid, three hash types)", list.Country, len(list.Batches))
			}

			// Verification reports the revocation as its own finding.
			v := e.verify(t, e.support, map[string]any{"hc1": mine.hc1})
			if v.Valid || finding(v, issuer.CheckRevocation).Code != "revoked" || finding(v, issuer.CheckSignature).Result != issuer.ResultPass {
				t.Errorf("verify of a revoked certificate: %+v", v.Findings)
			}
		})
	}
}

func (e *testEnv) verify(t *testing.T, key string, body any) issuer.Verification {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	a := e.post("/api/v1/verify", key, raw)
	if a.status != http.StatusOK {
		t.Fatalf("verify: %d %s", a.status, a.body)
	}
	var v issuer.Verification
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatal(err)
	}
	checks := []string{}
	for _, f := range v.Findings {
		checks = append(checks, f.Check)
	}
	want := []string{issuer.CheckDecode, issuer.CheckSignature, issuer.CheckExpiry, issuer.CheckDSCValidity,
		issuer.CheckKeyUsage, issuer.CheckRevocation, issuer.CheckSchema, issuer.CheckValueSets}
	if !slices.Equal(checks, want) {
		t.Errorf("findings %v, want one per check %v", checks, want)
	}
	return v
}

func finding(v issuer.Verification, check string) issuer.Finding {
	for _, f := range v.Findings {
		if f.Check == check {
			return f
		}
	}
	return issuer.Finding{}
}

// The trust list names the current DSCs and the retired ones the service signed with, with
// kid, validity and kinds, validates against its schema, carries integrity headers, and is what
// dccctl verify --trust-list URL reads.
func TestTrustList(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{})
	ctx := context.Background()
	hc := e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox,
		fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now))))
	key, err := keys.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	old, err := keys.SelfSigned(key, keys.Options{Now: e.now.Add(-400 * 24 * time.Hour), Validity: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.RecordSigningCertificate(ctx, issuer.SigningCertificate{Environment: issuer.Production,
		Certificate: old.Raw, FirstUsedAt: old.NotBefore}); err != nil {
		t.Fatal(err)
	}

	a := e.published("/api/v1/trust-list", e.trustList(issuer.Sandbox, issuer.Production))
	validates(t, compileSchema(t, docs.TrustListSchema), a.body)
	list, err := trust.Parse(a.body)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, en := range list.Entries() {
		status[en.Environment+" "+en.Status] = base64.StdEncoding.EncodeToString(en.KID)
		if !slices.Equal(en.Kinds, []string{"test", "vaccination", "recovery"}) {
			t.Errorf("entry kinds %v", en.Kinds)
		}
	}
	want := map[string]string{
		"production current": base64.StdEncoding.EncodeToString(keys.KID(e.dscs[issuer.Production])),
		"sandbox current":    base64.StdEncoding.EncodeToString(keys.KID(e.dscs[issuer.Sandbox])),
		"production retired": base64.StdEncoding.EncodeToString(keys.KID(old)),
	}
	if len(status) != 3 || status["production current"] != want["production current"] ||
		status["sandbox current"] != want["sandbox current"] || status["production retired"] != want["production retired"] {
		t.Errorf("entries %v, want %v", status, want)
	}

	// What dccctl verify --trust-list URL does: load (checking digest and signature), verify.
	loaded, err := trust.LoadURL(ctx, nil, e.url+"/api/v1/trust-list")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hcert.Verify(hc.hc1, loaded, e.now); err != nil {
		t.Errorf("issued certificate does not verify against the published trust list: %v", err)
	}
}

// Verification reports each check separately, against the service's trust list or an uploaded
// one, and is rate limited per credential.
func TestVerifyFindings(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{})
	hc := e.mustIssue(issuer.KindVaccination, issuer.Sandbox, e.post("/api/v1/immunization", e.sandbox,
		fhirtest.Immunization(fhirtest.Comirnaty, fhirtest.Now(e.now))))

	v := e.verify(t, e.sandbox, map[string]any{"hc1": hc.hc1})
	if !v.Valid || v.UVCI != hc.uvci || v.Kind != "vaccination" || v.DSC == nil {
		t.Errorf("valid certificate: %+v", v)
	}
	for _, f := range v.Findings {
		if f.Result != issuer.ResultPass {
			t.Errorf("finding %+v", f)
		}
	}

	later := e.now.Add(2 * 366 * 24 * time.Hour)
	v = e.verify(t, e.support, map[string]any{"hc1": hc.hc1, "at": later})
	if v.Valid || finding(v, issuer.CheckExpiry).Code != "expired" ||
		finding(v, issuer.CheckSignature).Result != issuer.ResultPass || finding(v, issuer.CheckDSCValidity).Result != issuer.ResultPass {
		t.Errorf("expired certificate: %+v", v.Findings)
	}

	// Against an uploaded trust list that lacks the DSC: the signature fails, the checks that
	// need the DSC are skipped, the rest still run.
	key, _ := keys.NewKey()
	stranger, _ := keys.SelfSigned(key, keys.Options{})
	uploaded, _ := json.Marshal(trust.New("production", stranger))
	v = e.verify(t, e.support, map[string]any{"hc1": hc.hc1, "trustList": json.RawMessage(uploaded)})
	if v.Valid || finding(v, issuer.CheckSignature).Code != "unknown-kid" ||
		finding(v, issuer.CheckKeyUsage).Result != issuer.ResultSkipped || finding(v, issuer.CheckSchema).Result != issuer.ResultPass {
		t.Errorf("foreign trust list: %+v", v.Findings)
	}
	// An uploaded list that has it verifies.
	mine, _ := json.Marshal(e.trustList(issuer.Sandbox))
	if v = e.verify(t, e.support, map[string]any{"hc1": hc.hc1, "trustList": json.RawMessage(mine)}); !v.Valid {
		t.Errorf("uploaded own trust list: %+v", v.Findings)
	}

	tampered := hc.hc1[:len(hc.hc1)-4] + "AAAA"
	v = e.verify(t, e.support, map[string]any{"hc1": tampered})
	if v.Valid || finding(v, issuer.CheckDecode).Result == issuer.ResultPass && finding(v, issuer.CheckSignature).Result == issuer.ResultPass {
		t.Errorf("tampered certificate: %+v", v.Findings)
	}
	v = e.verify(t, e.support, map[string]any{"hc1": "HC1:not base45 at all"})
	if v.Valid || finding(v, issuer.CheckDecode).Code != "base45" || finding(v, issuer.CheckValueSets).Result != issuer.ResultSkipped {
		t.Errorf("garbage: %+v", v.Findings)
	}

	if a := e.post("/api/v1/verify", e.support, []byte(`{}`)); a.status != http.StatusUnprocessableEntity || !a.has(t, problem.CodeHC1Missing) {
		t.Errorf("no hc1: %d %s", a.status, a.body)
	}
	if a := e.post("/api/v1/verify", "", []byte(`{"hc1":"HC1:"}`)); a.status != http.StatusUnauthorized {
		t.Errorf("no credential: %d", a.status)
	}
}

func TestVerifyRateLimited(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{})
	srv := httpapi.New(httpapi.Options{Issuer: e.svc, Revocations: e.revs, Credentials: e.creds, Values: e.values,
		Clock: func() time.Time { return e.now }, VerifyRate: httpapi.RateLimit{Rate: 0.01, Burst: 2}})
	body := []byte(`{"hc1":"HC1:x"}`)
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodPost, "/api/v1/verify", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.support)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		want := http.StatusOK
		if i == 2 {
			want = http.StatusTooManyRequests
		}
		if rec.Code != want || (i == 2 && rec.Header().Get("Retry-After") == "") {
			t.Errorf("call %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
}
