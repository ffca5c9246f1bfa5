package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ledongpdf "github.com/ledongthuc/pdf"

	"github.com/sedcc/dcc/fhir"
	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/httpapi"
	"github.com/sedcc/dcc/signing/dcc/dccschema"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
)

// issued is the part of a provider answer the tests look at.
type issued struct {
	kind     string
	uvci     string
	hc1      string
	source   string
	delivery string
	decoded  *hcert.Decoded
	raw      map[string]any
	compat   bool // the answer came from a compatibility path, without extensions
}

func proofKey(kind issuer.Kind) string {
	switch kind {
	case issuer.KindRecovery:
		return "recoveryProof"
	case issuer.KindVaccination:
		return "vaccinationProof"
	}
	return "testProof"
}

// mustIssue asserts a 200 answer, verifies its HC1 against the environment's DSC at the env's
// clock, validates the payload against the official schema and value sets, and checks the QR
// image and the PDF are present.
func (e *testEnv) mustIssue(kind issuer.Kind, env issuer.Environment, a answer) issued {
	e.t.Helper()
	if a.status != http.StatusOK {
		e.t.Fatalf("status %d, want 200:\n%s", a.status, a.body)
	}
	if a.header.Get("X-Request-ID") == "" {
		e.t.Fatal("no X-Request-ID on the answer")
	}
	m := a.json(e.t)
	proof, ok := m[proofKey(kind)].(map[string]any)
	if !ok {
		e.t.Fatalf("answer has no %s:\n%s", proofKey(kind), a.body)
	}
	meta := proof["metadata"].(map[string]any)
	out := issued{kind: string(kind), uvci: meta["uvci"].(string), raw: m}
	out.hc1, _ = meta["hc1"].(string)
	out.source, _ = meta["identitySource"].(string)
	out.delivery, _ = meta["delivery"].(string)
	if out.hc1 == "" {
		// A compatibility answer carries no extension: the HC1 is read from its QR code.
		out.hc1 = qrText(e.t, proof["qrCode"])
		out.compat = true
	}
	if m["identitySource"] != nil && m["identitySource"] != out.source {
		e.t.Fatalf("top-level identitySource %v, metadata %v", m["identitySource"], out.source)
	}
	d, err := hcert.Verify(out.hc1, e.trustList(env), e.now)
	if err != nil {
		e.t.Fatalf("issued HC1 does not verify against the %s DSC: %v", env, err)
	}
	out.decoded = d
	if d.Claims.Payload.ID() != out.uvci {
		e.t.Fatalf("payload UVCI %q, metadata %q", d.Claims.Payload.ID(), out.uvci)
	}
	if d.Claims.Issuer != "SE" {
		e.t.Fatalf("iss %q", d.Claims.Issuer)
	}
	js, err := d.PayloadJSON()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := schema(e.t).ValidateJSON(js); err != nil {
		e.t.Fatalf("payload does not validate against the DCC schema: %v\n%s", err, js)
	}
	if err := d.Claims.Payload.ValidateCodes(e.values); err != nil {
		e.t.Fatalf("payload codes: %v", err)
	}
	qr := proof["qrCode"].(map[string]any)
	img, err := base64.StdEncoding.DecodeString(qr["image"].(string))
	if err != nil {
		e.t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil || cfg.Width != int(qr["width"].(float64)) || cfg.Height != int(qr["height"].(float64)) {
		e.t.Fatalf("QR image: %v, %dx%d vs %v x %v", err, cfg.Width, cfg.Height, qr["width"], qr["height"])
	}
	pts := m["proofTypes"].([]any)
	pdf, _ := base64.StdEncoding.DecodeString(pts[0].(map[string]any)["content"].(string))
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		e.t.Fatalf("proofTypes[0] is not a PDF")
	}
	text := pdfPlainText(e.t, pdf)
	if got, want := strings.Contains(text, "SANDBOX - NOT VALID / INTE GILTIGT"), env == issuer.Sandbox; got != want {
		e.t.Errorf("%s certificate's PDF carries the sandbox mark: %v", env, got)
	}
	if !strings.Contains(text, out.uvci) {
		e.t.Errorf("PDF text lacks the UVCI %s", out.uvci)
	}
	if kind == issuer.KindTest && !strings.Contains(text, "Ej påvisad / Not detected") {
		e.t.Errorf("test certificate's result is not in Swedish and English: %s", text)
	}
	return out
}

var (
	schemaOnce sync.Once
	schemaVal  *dccschema.Schema
	schemaErr  error
)

func schema(t testing.TB) *dccschema.Schema {
	t.Helper()
	schemaOnce.Do(func() { schemaVal, schemaErr = dccschema.Compile() })
	if schemaErr != nil {
		t.Fatal(schemaErr)
	}
	return schemaVal
}

// TestIssueEveryKind is the backbone: each kind over HTTP, on both stores, decoded and verified
// against the trust list and compared with what was sent.
func TestIssueEveryKind(t *testing.T) {
	for _, st := range stores {
		t.Run(st, func(t *testing.T) {
			e := newEnv(t, st, envOptions{})
			now := fhirtest.Now(e.now)

			naat := e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.NAAT, now)))
			p := naat.decoded.Claims.Payload
			if p.Name.FamilyName != "Tolvansson" || p.Name.FamilyNameStandardised != "TOLVANSSON" || p.DateOfBirth != "1912-12-12" {
				t.Errorf("NAAT name from the register: %+v %s", p.Name, p.DateOfBirth)
			}
			tt := p.Test[0]
			if tt.Type != fhirtest.TestTypeNAAT || tt.Result != fhirtest.NotDetected || tt.Centre != "Provtagningen Stockholm City" || tt.Name == "" || tt.Device != "" {
				t.Errorf("NAAT entry %+v", tt)
			}
			if naat.source != "register" || naat.delivery != "provider-handout" {
				t.Errorf("NAAT source %s delivery %s", naat.source, naat.delivery)
			}

			rat := e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/observation", e.sandbox,
				fhirtest.Observation(fhirtest.RAT, now, fhirtest.PNR("198503122387"))))
			p = rat.decoded.Claims.Payload
			if p.Name.FamilyName != "Öberg" || p.Name.FamilyNameStandardised != "OEBERG" || p.Name.GivenNameStandardised != "AASA" {
				t.Errorf("RAT name %+v", p.Name)
			}
			if p.Test[0].Device != fhirtest.DefaultDevice || p.Test[0].Type != fhirtest.TestTypeRAT {
				t.Errorf("RAT entry %+v", p.Test[0])
			}
			sc, err := time.Parse(time.RFC3339, p.Test[0].SampleCollected)
			if err != nil || !sc.Equal(e.now.Add(-35*time.Minute)) {
				t.Errorf("sample time %s, want %s", p.Test[0].SampleCollected, e.now.Add(-35*time.Minute))
			}

			nopnr := e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.NoPNR, now)))
			p = nopnr.decoded.Claims.Payload
			if p.Name.FamilyName != "Ødegård" || p.Name.FamilyNameStandardised != "OEDEGAARD" || p.DateOfBirth != "1974-07-17" {
				t.Errorf("no-personnummer name %+v %s", p.Name, p.DateOfBirth)
			}
			if nopnr.source != "provided" || nopnr.delivery != "provider-handout" {
				t.Errorf("no-personnummer source %s delivery %s", nopnr.source, nopnr.delivery)
			}

			rec := e.mustIssue(issuer.KindRecovery, issuer.Sandbox, e.post("/api/v1/recovery", e.sandbox, fhirtest.Observation(fhirtest.Recovery, now)))
			r := rec.decoded.Claims.Payload.Recovery[0]
			fr := e.now.Add(-30 * 24 * time.Hour).In(e.svc.Policy().Zone).Format("2006-01-02")
			frT, _ := time.Parse("2006-01-02", fr)
			if r.FirstPositive != fr || r.ValidFrom != frT.AddDate(0, 0, 11).Format("2006-01-02") || r.ValidUntil != frT.AddDate(0, 0, 180).Format("2006-01-02") {
				t.Errorf("recovery entry %+v (fr want %s)", r, fr)
			}
			if rec.raw["recoveryProof"].(map[string]any)["recovery"].(map[string]any)["positiveTestResultDate"] != fr {
				t.Errorf("recovery details in the answer: %v", rec.raw["recoveryProof"])
			}

			snr := e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox,
				fhirtest.Observation(fhirtest.RAT, now, fhirtest.Samordningsnummer("199001751248"), fhirtest.Identifier("SNR-1"))))
			if p := snr.decoded.Claims.Payload; p.Name.FamilyName != "Haddad" || p.DateOfBirth != "1990-01-15" || snr.source != "register" {
				t.Errorf("samordningsnummer: %+v %s %s", p.Name, p.DateOfBirth, snr.source)
			}

			uvcis := map[string]bool{naat.uvci: true, rat.uvci: true, nopnr.uvci: true, rec.uvci: true, snr.uvci: true}
			if len(uvcis) != 5 {
				t.Errorf("UVCIs not distinct: %v", uvcis)
			}
			for u := range uvcis {
				if !regexp.MustCompile(`^URN:UVCI:01:SE:DCC/[A-Z0-9]{1,16}/[A-Z0-9]{32}#[A-Z0-9/:]$`).MatchString(u) {
					t.Errorf("UVCI %q", u)
				}
			}
		})
	}
}

// TestVaccinationProducts issues each Nordic-relevant product.
func TestVaccinationProducts(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{})
	for _, product := range []string{fhirtest.Comirnaty, fhirtest.Spikevax, fhirtest.Vaxzevria, fhirtest.Jcovden, fhirtest.Nuvaxovid} {
		t.Run(strings.ReplaceAll(product, "/", "_"), func(t *testing.T) {
			e.t = t
			out := e.mustIssue(issuer.KindVaccination, issuer.Sandbox, e.post("/api/v1/immunization", e.sandbox,
				fhirtest.Immunization(product, fhirtest.Now(e.now))))
			v := out.decoded.Claims.Payload.Vaccination[0]
			if v.Product != product || v.Disease != issuer.DiseaseCOVID19 || v.DoseNumber < 1 || v.TotalDoses < 1 {
				t.Errorf("vaccination entry %+v", v)
			}
			in, _ := e.values.Instruction(product)
			if v.Manufacturer != in.Manufacturer {
				t.Errorf("ma %s, want %s", v.Manufacturer, in.Manufacturer)
			}
			vp := out.raw["vaccinationProof"].(map[string]any)["vaccination"].(map[string]any)
			if vp["medicinalProduct"].(map[string]any)["code"] != product {
				t.Errorf("answer vaccination %v", vp)
			}
		})
	}
	// A booster beyond the primary series (3/2) is a normal certificate; each dose event of one
	// person is its own certificate.
	t.Run("booster", func(t *testing.T) {
		e.t = t
		out := e.mustIssue(issuer.KindVaccination, issuer.Sandbox, e.post("/api/v1/immunization", e.sandbox,
			fhirtest.Immunization(fhirtest.Comirnaty, fhirtest.Now(e.now), fhirtest.Dose(3, 2), fhirtest.Identifier("VACC-BOOST-3"))))
		if v := out.decoded.Claims.Payload.Vaccination[0]; v.DoseNumber != 3 || v.TotalDoses != 2 {
			t.Errorf("booster entry %+v", v)
		}
		exp := out.decoded.Claims.Expiry.Sub(out.decoded.Claims.IssuedAt)
		if exp != 365*24*time.Hour {
			t.Errorf("vaccination validity %s, want 365 days", exp)
		}
	})
}

// TestReplayAndConflicts: the same Identifier and content returns the same certificate; the same
// X-Request-ID with the same body returns the original answer; reuses with other content are 409.
func TestReplayAndConflicts(t *testing.T) {
	for _, st := range stores {
		t.Run(st, func(t *testing.T) {
			e := newEnv(t, st, envOptions{})
			body := fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.Identifier("R-1"))
			first := e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox, body))

			// A retry after a timeout: same Identifier, same content, no request id.
			again := e.post("/api/v1/observation", e.sandbox, body)
			if got := e.mustIssue(issuer.KindTest, issuer.Sandbox, again); got.uvci != first.uvci || got.hc1 != first.hc1 {
				t.Fatalf("retry gave %s, first %s", got.uvci, first.uvci)
			}
			if again.header.Get("X-Replayed") != "true" {
				t.Error("retry not marked as replayed")
			}
			// The same content sent with the time in another offset is the same content.
			sampled := e.now.Add(-35 * time.Minute).In(time.FixedZone("", 5*3600))
			same := fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.Identifier("R-1"), fhirtest.At(sampled))
			if got := e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox, same)); got.uvci != first.uvci {
				t.Fatalf("same instant in another offset gave %s", got.uvci)
			}

			// The Identifier with other content.
			other := fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.Identifier("R-1"), fhirtest.PNR("198503122387"))
			a := e.post("/api/v1/observation", e.sandbox, other)
			if a.status != http.StatusConflict || a.codes(t)["identifier-conflict"] != "Observation.identifier[0].value" {
				t.Fatalf("identifier reuse: %d %s", a.status, a.body)
			}
			// Another provider may use the same Identifier: its own certificate, another UVCI.
			sameIDOther := e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.testOnly, body))
			if sameIDOther.uvci == first.uvci {
				t.Fatal("two providers' identical Identifiers gave one UVCI")
			}

			// X-Request-ID: identical replay returns the original answer, error answers included.
			body2 := fhirtest.Observation(fhirtest.NAAT, fhirtest.Now(e.now), fhirtest.Identifier("R-2"))
			r1 := e.post("/api/v1/observation", e.sandbox, body2, "X-Request-ID", "req-0001")
			if r1.header.Get("X-Request-ID") != "req-0001" {
				t.Fatalf("request id not echoed: %q", r1.header.Get("X-Request-ID"))
			}
			c1 := e.mustIssue(issuer.KindTest, issuer.Sandbox, r1)
			r2 := e.post("/api/v1/observation", e.sandbox, body2, "X-Request-ID", "req-0001")
			if c2 := e.mustIssue(issuer.KindTest, issuer.Sandbox, r2); c2.uvci != c1.uvci || c2.hc1 != c1.hc1 {
				t.Fatal("request id replay gave another certificate")
			}
			r3 := e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.NAAT, fhirtest.Now(e.now), fhirtest.Identifier("R-3")),
				"X-Request-ID", "req-0001")
			if r3.status != http.StatusConflict || r3.codes(t)["request-id-reused"] != "X-Request-ID" || r3.header.Get("X-Request-ID") != "req-0001" {
				t.Fatalf("request id reuse: %d %s", r3.status, r3.body)
			}
			// The same id and body on another route is another request.
			r4 := e.post("/api/v1/recovery", e.sandbox, body2, "X-Request-ID", "req-0001")
			if _, ok := r4.codes(t)["request-id-reused"]; r4.status != http.StatusConflict || !ok {
				t.Fatalf("request id reused on another route: %d %s", r4.status, r4.body)
			}
			bad := fhirtest.Observation(fhirtest.NAAT, fhirtest.Now(e.now), fhirtest.AtRaw("2022-02-14T09:00:00"))
			b1 := e.post("/api/v1/observation", e.sandbox, bad, "X-Request-ID", "req-0002")
			b2 := e.post("/api/v1/observation", e.sandbox, bad, "X-Request-ID", "req-0002")
			if b1.status != http.StatusUnprocessableEntity || b2.status != b1.status || !bytes.Equal(b1.body, b2.body) {
				t.Fatalf("replayed error differs: %d %s / %d %s", b1.status, b1.body, b2.status, b2.body)
			}
			// A generated id when none is sent; an invalid one is refused.
			if id := e.post("/api/v1/observation", e.sandbox, body).header.Get("X-Request-ID"); len(id) < 16 {
				t.Errorf("generated request id %q", id)
			}
			inv := e.post("/api/v1/observation", e.sandbox, body, "X-Request-ID", "has spaces and ümlauts")
			if inv.status != http.StatusBadRequest || inv.codes(t)["request-id-invalid"] != "X-Request-ID" || inv.header.Get("X-Request-ID") == "" {
				t.Fatalf("invalid request id: %d %s", inv.status, inv.body)
			}
		})
	}
}

// TestConcurrentDuplicates: 50 concurrent requests with one Identifier make one certificate.
func TestConcurrentDuplicates(t *testing.T) {
	for _, st := range stores {
		t.Run(st, func(t *testing.T) {
			e := newEnv(t, st, envOptions{})
			body := fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.Identifier("DUP-50"))
			const n = 50
			var wg sync.WaitGroup
			answers := make([]answer, n)
			for i := range n {
				wg.Go(func() { answers[i] = e.post("/api/v1/observation", e.sandbox, body) })
			}
			wg.Wait()
			hc1s := map[string]bool{}
			for _, a := range answers {
				if a.status != http.StatusOK {
					t.Fatalf("status %d: %s", a.status, a.body)
				}
				var m struct {
					TestProof struct{ Metadata struct{ HC1 string } }
				}
				json.Unmarshal(a.body, &m)
				hc1s[m.TestProof.Metadata.HC1] = true
			}
			if len(hc1s) != 1 {
				t.Fatalf("%d different certificates for one Identifier", len(hc1s))
			}
			page, err := e.store.SearchAudit(context.Background(), issuer.AuditQuery{Outcome: issuer.OutcomeIssued, Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Events) != 1 {
				t.Fatalf("%d issued events, want 1", len(page.Events))
			}
			rep, _ := e.store.SearchAudit(context.Background(), issuer.AuditQuery{Outcome: issuer.OutcomeReplayed, Limit: 500})
			if len(rep.Events) != n-1 {
				t.Fatalf("%d replayed events, want %d", len(rep.Events), n-1)
			}
			if ev := rep.Events[0]; ev.IdentitySource != issuer.SourceRegister || ev.UVCI != page.Events[0].UVCI {
				t.Errorf("replayed event %+v", ev)
			}
		})
	}
}

// TestKidsPerEnvironment: sandbox and production certificates carry different kids, and each
// verifies only against its own DSC.
func TestKidsPerEnvironment(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{})
	body := func(id string) []byte {
		return fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.Identifier(id), fhirtest.PNR("198503122387"))
	}
	sb := e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox, body("K-1")))
	pr := e.mustIssue(issuer.KindTest, issuer.Production, e.post("/api/v1/observation", e.prod, body("K-1")))
	if bytes.Equal(sb.decoded.KID, pr.decoded.KID) {
		t.Fatal("sandbox and production share a kid")
	}
	if !bytes.Equal(sb.decoded.KID, keys.KID(e.dscs[issuer.Sandbox])) || !bytes.Equal(pr.decoded.KID, keys.KID(e.dscs[issuer.Production])) {
		t.Fatal("kids are not the environments' DSC kids")
	}
	if _, err := hcert.Verify(sb.hc1, e.trustList(issuer.Production), e.now); err == nil {
		t.Fatal("a sandbox certificate verifies against the production trust list")
	}
}

// TestTestDataInProduction: test-tagged data and known test identities are refused with a
// production credential and accepted with a sandbox one.
func TestTestDataInProduction(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{})
	tagged := fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.TestData(), fhirtest.PNR("198503122387"))
	a := e.post("/api/v1/observation", e.prod, tagged)
	if a.status != http.StatusUnprocessableEntity || a.codes(t)["test-data-in-production"] != "Observation.meta.tag[0]" {
		t.Fatalf("tagged test data in production: %d %s", a.status, a.body)
	}
	e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox, tagged))

	tolvan := fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.Identifier("T-2"))
	a = e.post("/api/v1/observation", e.prod, tolvan)
	if a.status != http.StatusUnprocessableEntity || a.codes(t)["test-data-in-production"] == "" {
		t.Fatalf("test identity in production: %d %s", a.status, a.body)
	}
	e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox, tolvan))
}

// TestAuthentication: every way a credential can be wrong is 401 without detail; a credential
// without the kind or role is 403. Both are OperationOutcomes with the request id.
func TestAuthentication(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{})
	body := fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now))
	revokedKey := func() string {
		p, token, err := e.creds.Add(context.Background(), issuer.NewPrincipal{Name: "Revoked Lab", Role: issuer.RoleProvider,
			Environment: issuer.Sandbox, Kinds: []issuer.Kind{issuer.KindTest}})
		if err != nil {
			t.Fatal(err)
		}
		ks, _ := e.store.ListAPIKeys(context.Background(), p.ID)
		if err := e.creds.Revoke(context.Background(), ks[0].ID); err != nil {
			t.Fatal(err)
		}
		return token
	}()
	wrongSecret := e.sandbox[:len(e.sandbox)-4] + "AAAA"
	for name, key := range map[string]string{
		"missing":      "",
		"malformed":    "not-a-key",
		"unknown":      "dcc_aaaaaaaaaaaaaaaa_" + strings.Repeat("A", 43),
		"wrong secret": wrongSecret,
		"revoked":      revokedKey,
	} {
		a := e.post("/api/v1/observation", key, body)
		// RFC 6750: the scheme and realm; error="invalid_token" only when a credential was sent.
		want := `Bearer realm="dcc", error="invalid_token", error_description="The API key is missing, malformed, unknown, expired or revoked."`
		if key == "" {
			want = `Bearer realm="dcc"`
		}
		if a.status != http.StatusUnauthorized || a.codes(t)["unauthenticated"] != "Authorization" || a.header.Get("X-Request-ID") == "" ||
			a.header.Get("WWW-Authenticate") != want {
			t.Errorf("%s key: %d %q %s", name, a.status, a.header.Get("WWW-Authenticate"), a.body)
		}
	}
	a := e.post("/api/v1/recovery", e.testOnly, fhirtest.Observation(fhirtest.Recovery, fhirtest.Now(e.now)))
	if a.status != http.StatusForbidden || !a.has(t, "kind-not-granted") {
		t.Errorf("kind not granted: %d %s", a.status, a.body)
	}
	a = e.post("/api/v1/observation", e.support, body)
	if a.status != http.StatusForbidden || !a.has(t, "forbidden") {
		t.Errorf("support key on a provider route: %d %s", a.status, a.body)
	}
}

// TestBodyAndRouting: size limit, malformed JSON, unknown routes and methods are
// OperationOutcomes.
func TestBodyAndRouting(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{})
	big := bytes.Repeat([]byte(" "), fhir.MaxBodyBytes+1)
	if a := e.post("/api/v1/observation", e.sandbox, big); a.status != http.StatusRequestEntityTooLarge || !a.has(t, "body-too-large") {
		t.Errorf("large body: %d %s", a.status, a.body)
	}
	if a := e.post("/api/v1/observation", e.sandbox, []byte(`{"resourceType": "Observation",`)); a.status != http.StatusBadRequest || len(a.codes(t)) == 0 {
		t.Errorf("malformed JSON: %d %s", a.status, a.body)
	}
	if a := e.do(http.MethodGet, "/api/v1/nothing", "", nil); a.status != http.StatusNotFound || !a.has(t, "not-found") || a.header.Get("X-Request-ID") == "" {
		t.Errorf("unknown route: %d %s", a.status, a.body)
	}
	if a := e.do(http.MethodGet, "/api/v1/observation", e.sandbox, nil); a.status != http.StatusMethodNotAllowed || !a.has(t, "method-not-allowed") || a.header.Get("Allow") == "" {
		t.Errorf("wrong method: %d Allow %q %s", a.status, a.header.Get("Allow"), a.body)
	}
	// Vendors label bodies in many ways; the body decides.
	e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox,
		fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.Identifier("CT-1")), "Content-Type", "application/x-www-form-urlencoded"))
	ping := e.do(http.MethodGet, "/ping", "", nil)
	if ping.status != http.StatusOK || ping.json(t)["status"] != "ok" {
		t.Errorf("ping: %d %s", ping.status, ping.body)
	}
}

// TestAuditEveryRequest: accepted and rejected requests each leave one audit event with the
// request id, codes and masked subject.
func TestAuditEveryRequest(t *testing.T) {
	for _, st := range stores {
		t.Run(st, func(t *testing.T) {
			e := newEnv(t, st, envOptions{})
			ok := e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now)), "X-Request-ID", "audit-ok")
			e.mustIssue(issuer.KindTest, issuer.Sandbox, ok)
			e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.PNR("191212121213")), "X-Request-ID", "audit-bad")
			e.post("/api/v1/observation", "", fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now)), "X-Request-ID", "audit-401")
			ctx := context.Background()
			// Refusals before any work are written off the request path; wait for them.
			deadline := time.Now().Add(10 * time.Second)
			for e.queue.Written() < 1 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			for id, want := range map[string]issuer.Outcome{"audit-ok": issuer.OutcomeIssued, "audit-bad": issuer.OutcomeRejected, "audit-401": issuer.OutcomeRejected} {
				page, err := e.store.SearchAudit(ctx, issuer.AuditQuery{RequestID: id})
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Events) != 1 || page.Events[0].Outcome != want {
					t.Fatalf("%s: %+v", id, page.Events)
				}
				ev := page.Events[0]
				switch id {
				case "audit-ok":
					if ev.UVCI == "" || ev.SubjectMasked != "19121212****" || ev.IdentitySource != issuer.SourceRegister || ev.Status != 200 {
						t.Errorf("issued event %+v", ev)
					}
				case "audit-bad":
					if fmt.Sprint(ev.Codes) != "[personnummer-checksum]" || ev.Status != 422 || ev.PrincipalID == "" {
						t.Errorf("rejected event %+v", ev)
					}
				case "audit-401":
					if ev.Status != 401 || ev.PrincipalID != "" {
						t.Errorf("401 event %+v", ev)
					}
				}
			}
		})
	}
}

// TestNoPersonalDataInLogs scans everything the service logged during a run of requests.
func TestNoPersonalDataInLogs(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{})
	e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.PNR("198503122387"))))
	e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.PNR("198503122388")))
	e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.NoPNR, fhirtest.Now(e.now))))
	logs := e.logs.String()
	if !strings.Contains(logs, "certificate issued") {
		t.Fatal("nothing was logged; the scan would prove nothing")
	}
	for _, secret := range []string{"198503122387", "198503122388", "Öberg", "Åsa", "Ødegård", "HC1:"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
	// Every line written while serving a request names the request.
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if id, _ := m["request_id"].(string); id == "" {
			t.Errorf("log line without request_id: %s", line)
		}
	}
}

// TestRateLimitPerCredential: beyond its burst a credential gets 429 rate-limited with
// Retry-After; another credential is not affected.
func TestRateLimitPerCredential(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{rate: httpapi.RateLimit{Rate: 0.5, Burst: 2}})
	body := func(id string) []byte {
		return fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.Identifier(id))
	}
	e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox, body("RL-1")))
	e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.sandbox, body("RL-2")))
	a := e.post("/api/v1/observation", e.sandbox, body("RL-3"))
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "2" {
		t.Fatalf("beyond the burst: %d Retry-After %q %s", a.status, a.header.Get("Retry-After"), a.body)
	}
	if _, ok := a.codes(t)["rate-limited"]; !ok {
		t.Fatalf("codes %v", a.codes(t))
	}
	e.mustIssue(issuer.KindTest, issuer.Sandbox, e.post("/api/v1/observation", e.testOnly, body("RL-1")))
}

// TestProtectedIdentity: a person with a protected identity gets a certificate; the answer holds
// nothing but the certificate's own fields and the number the provider sent, and the audit event
// notes the protection.
func TestProtectedIdentity(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{})
	a := e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now),
		fhirtest.PNR("196411182469")), "X-Request-ID", "protected-1")
	out := e.mustIssue(issuer.KindTest, issuer.Sandbox, a)
	if p := out.decoded.Claims.Payload; p.Name.FamilyName != "Lindqvist" || p.DateOfBirth != "1964-11-18" {
		t.Errorf("payload %+v %s", p.Name, p.DateOfBirth)
	}
	// The number the provider sent comes back as TestPersonData.identity (swagger.json), and
	// nothing else about the person beyond the certificate's own fields.
	subject := out.raw["testProof"].(map[string]any)["subject"].(map[string]any)
	if subject["identity"] != "196411182469" {
		t.Errorf("subject.identity %v, want the number sent", subject["identity"])
	}
	for k := range subject {
		if k != "identity" && k != "givenName" && k != "familyName" && k != "birthDate" && k != "birthDateString" {
			t.Errorf("the answer's subject carries %q", k)
		}
	}
	page, err := e.store.SearchAudit(context.Background(), issuer.AuditQuery{RequestID: "protected-1"})
	if err != nil || len(page.Events) != 1 || !slices.Contains(page.Events[0].Notes, "protected-identity") {
		t.Fatalf("audit %v %+v", err, page.Events)
	}
}

// pdfPlainText returns the text of a PDF's pages with runs of white space as one space.
func pdfPlainText(t testing.TB, doc []byte) string {
	t.Helper()
	r, err := ledongpdf.NewReader(bytes.NewReader(doc), int64(len(doc)))
	if err != nil {
		t.Fatalf("read PDF: %v", err)
	}
	var all []string
	for i := 1; i <= r.NumPage(); i++ {
		rows, err := r.Page(i).GetTextByRow()
		if err != nil {
			t.Fatalf("PDF text: %v", err)
		}
		for _, row := range rows {
			for _, w := range row.Content {
				all = append(all, w.S)
			}
		}
	}
	return strings.Join(strings.Fields(strings.Join(all, " ")), " ")
}
