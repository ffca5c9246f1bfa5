package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/admission"
	"github.com/sedcc/dcc/issuer/httpapi/browsertest"
	"github.com/sedcc/dcc/issuer/idp"
)

const (
	tolvan = "191212121212"
	asa    = "198503122387"
)

// token mints an access token of the env's identity provider.
func (e *testEnv) token(tok idp.Token) string {
	e.t.Helper()
	s, err := e.idp.Mint(tok)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// issueFor issues a certificate of the kind for the personnummer through the provider API, with
// the sandbox provider's key.
func (e *testEnv) issueFor(kind issuer.Kind, number, identifier string) issued {
	e.t.Helper()
	return e.issueWith(e.sandbox, issuer.Sandbox, kind, number, identifier)
}

// issueWith issues with the given provider key of the environment.
func (e *testEnv) issueWith(key string, env issuer.Environment, kind issuer.Kind, number, identifier string) issued {
	e.t.Helper()
	opts := []fhirtest.Option{fhirtest.Now(e.now), fhirtest.PNR(number), fhirtest.Identifier(identifier)}
	var path, fk string
	switch kind {
	case issuer.KindVaccination:
		path, fk = "/api/v1/immunization", "vaccination"
	case issuer.KindRecovery:
		path, fk = "/api/v1/recovery", fhirtest.Recovery
	default:
		path, fk = "/api/v1/observation", fhirtest.RAT
	}
	var body []byte
	if kind == issuer.KindVaccination {
		body = fhirtest.Immunization(fhirtest.Comirnaty, opts...)
	} else {
		body = fhirtest.Observation(fk, opts...)
	}
	return e.mustIssue(kind, env, e.post(path, key, body))
}

func certPath(uvci string) string { return "/api/v1/me/certificates/" + url.PathEscape(uvci) }

type meList struct {
	Certificates []struct {
		UVCI, Kind, Status, IssuedAt, ValidUntil string
		Links                                    struct{ Self, QR, PDF string }
	}
}

// TestCitizenSeesOwnCertificates: a citizen's token lists their certificates newest first and
// fetches each as JSON (the HC1 the provider got), QR code (decoding to that HC1) and PDF (the
// provider's PDF); another person's UVCI answers exactly as a UVCI that does not exist.
func TestCitizenSeesOwnCertificates(t *testing.T) {
	for _, sk := range stores {
		t.Run(sk, func(t *testing.T) {
			now := time.Now().UTC().Truncate(time.Second)
			clock := now
			e := newEnv(t, sk, envOptions{citizens: true, clock: func() time.Time { return clock }})
			first := e.issueFor(issuer.KindTest, tolvan, "t-1")
			clock = clock.Add(time.Minute)
			e.now = clock
			second := e.issueFor(issuer.KindVaccination, tolvan, "v-1")
			other := e.issueFor(issuer.KindTest, asa, "t-2")
			if second.delivery != string(issuer.DeliveryCitizen) {
				t.Fatalf("delivery %q with the citizen service on, want %q", second.delivery, issuer.DeliveryCitizen)
			}

			tok := e.token(idp.Token{PNR: tolvan})
			a := e.do(http.MethodGet, "/api/v1/me/certificates", tok, nil)
			if a.status != http.StatusOK {
				t.Fatalf("list: %d %s", a.status, a.body)
			}
			var list meList
			if err := json.Unmarshal(a.body, &list); err != nil {
				t.Fatal(err)
			}
			if len(list.Certificates) != 2 || list.Certificates[0].UVCI != second.uvci || list.Certificates[1].UVCI != first.uvci {
				t.Fatalf("list %s, want %s then %s", a.body, second.uvci, first.uvci)
			}
			if list.Certificates[0].Kind != "vaccination" || list.Certificates[0].Status != "valid" {
				t.Fatalf("first entry %+v", list.Certificates[0])
			}
			if cc := a.header.Get("Cache-Control"); !strings.Contains(cc, "private") {
				t.Fatalf("list Cache-Control %q", cc)
			}

			// The API's own link fetches the certificate.
			a = e.do(http.MethodGet, list.Certificates[0].Links.Self, tok, nil)
			if a.status != http.StatusOK {
				t.Fatalf("certificate: %d %s", a.status, a.body)
			}
			var one struct{ UVCI, HC1 string }
			if err := json.Unmarshal(a.body, &one); err != nil {
				t.Fatal(err)
			}
			if one.UVCI != second.uvci || one.HC1 != second.hc1 {
				t.Fatalf("certificate JSON %s, want the issued HC1", a.body)
			}
			etag := a.header.Get("ETag")
			if !strings.HasPrefix(etag, `"`) || !strings.Contains(a.header.Get("Cache-Control"), "private") {
				t.Fatalf("ETag %q, Cache-Control %q: want a strong ETag and private", etag, a.header.Get("Cache-Control"))
			}
			if again := e.do(http.MethodGet, certPath(second.uvci), tok, nil, "If-None-Match", etag); again.status != http.StatusNotModified || len(again.body) != 0 {
				t.Fatalf("If-None-Match with the ETag: %d, %d bytes; want 304 and no body", again.status, len(again.body))
			}
			if again := e.do(http.MethodGet, certPath(second.uvci), tok, nil, "If-None-Match", `"other"`); again.status != http.StatusOK {
				t.Fatalf("If-None-Match with another ETag: %d", again.status)
			}

			qr := e.do(http.MethodGet, certPath(second.uvci)+"/qr.png", tok, nil)
			if qr.status != http.StatusOK || qr.header.Get("Content-Type") != "image/png" {
				t.Fatalf("qr.png: %d %s", qr.status, qr.header.Get("Content-Type"))
			}
			text, err := browsertest.DecodeQR(qr.body)
			if err != nil || text != second.hc1 {
				t.Fatalf("QR code reads %q (%v), want the HC1", text, err)
			}
			pdf := e.do(http.MethodGet, certPath(second.uvci)+"/pdf", tok, nil)
			provided := second.raw["proofTypes"].([]any)[0].(map[string]any)
			want, _ := base64.StdEncoding.DecodeString(provided["content"].(string))
			if pdf.status != http.StatusOK || pdf.header.Get("Content-Type") != "application/pdf" || !bytes.Equal(pdf.body, want) {
				t.Fatalf("pdf: %d %s, %d bytes; want the provider's %d-byte PDF", pdf.status, pdf.header.Get("Content-Type"), len(pdf.body), len(want))
			}
			if cd := pdf.header.Get("Content-Disposition"); !strings.Contains(cd, provided["fileName"].(string)) {
				t.Fatalf("Content-Disposition %q", cd)
			}
			if e304 := e.do(http.MethodGet, certPath(second.uvci)+"/pdf", tok, nil, "If-None-Match", pdf.header.Get("ETag")); e304.status != http.StatusNotModified {
				t.Fatalf("pdf If-None-Match: %d", e304.status)
			}

			// Someone else's certificate and a certificate that does not exist answer alike.
			missing := other.uvci[:len(other.uvci)-5] + "AAAA" + other.uvci[len(other.uvci)-1:]
			for _, suffix := range []string{"", "/qr.png", "/pdf"} {
				theirs := e.do(http.MethodGet, certPath(other.uvci)+suffix, tok, nil)
				none := e.do(http.MethodGet, certPath(missing)+suffix, tok, nil)
				if theirs.status != http.StatusNotFound || none.status != http.StatusNotFound {
					t.Fatalf("%s: another's %d, missing %d; want 404 for both", suffix, theirs.status, none.status)
				}
				if !bytes.Equal(theirs.body, none.body) || theirs.header.Get("Content-Type") != none.header.Get("Content-Type") {
					t.Fatalf("%s: another's certificate answers\n%s\nbut a missing one\n%s", suffix, theirs.body, none.body)
				}
			}
			// The other person sees theirs, and only theirs.
			a = e.do(http.MethodGet, "/api/v1/me/certificates", e.token(idp.Token{PNR: asa}), nil)
			if err := json.Unmarshal(a.body, &list); err != nil || len(list.Certificates) != 1 || list.Certificates[0].UVCI != other.uvci {
				t.Fatalf("the other person's list: %s", a.body)
			}
			if a := e.do(http.MethodGet, certPath(first.uvci), e.token(idp.Token{PNR: asa}), nil); a.status != http.StatusNotFound {
				t.Fatalf("the other person fetching Tolvan's certificate: %d", a.status)
			}
			// A person with no certificates gets an empty list.
			a = e.do(http.MethodGet, "/api/v1/me/certificates", e.token(idp.Token{PNR: "197207045571"}), nil)
			if a.status != http.StatusOK || !strings.Contains(string(a.body), `"certificates":[]`) {
				t.Fatalf("empty list: %d %s", a.status, a.body)
			}
			// No personal data in the logs.
			if strings.Contains(e.logs.String(), tolvan) || strings.Contains(e.logs.String(), asa) {
				t.Fatal("a personnummer reached the log in clear")
			}
		})
	}
}

// TestCitizenTokenRefusals: every bad token is a 401 with an RFC 6750 challenge.
func TestCitizenTokenRefusals(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{citizens: true})
	c := e.issueFor(issuer.KindTest, tolvan, "t-1")
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := e.now
	cases := []struct {
		name, token, wantError string
	}{
		{"no token", "", ""},
		{"expired", e.token(idp.Token{PNR: tolvan, IssuedAt: now.Add(-time.Hour), Expires: now.Add(-5 * time.Minute)}), "invalid_token"},
		{"other issuer", e.token(idp.Token{PNR: tolvan, Issuer: "https://idp.example.org"}), "invalid_token"},
		{"unknown key", e.token(idp.Token{PNR: tolvan, Key: other, KID: "not-published"}), "invalid_token"},
		{"other audience", e.token(idp.Token{PNR: tolvan, Audience: []string{"another-service"}}), "invalid_token"},
		{"no personnummer", e.token(idp.Token{}), "invalid_token"},
		{"garbage", "abc.def.ghi", "invalid_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/me/certificates", certPath(c.uvci), certPath(c.uvci) + "/pdf"} {
				a := e.do(http.MethodGet, path, tc.token, nil)
				if a.status != http.StatusUnauthorized {
					t.Fatalf("%s: %d, want 401\n%s", path, a.status, a.body)
				}
				wa := a.header.Get("WWW-Authenticate")
				if !strings.HasPrefix(wa, "Bearer ") {
					t.Fatalf("%s: WWW-Authenticate %q", path, wa)
				}
				if tc.wantError == "" && strings.Contains(wa, "error=") {
					t.Fatalf("no token: WWW-Authenticate %q names an error (RFC 6750 3.1)", wa)
				}
				if tc.wantError != "" && !strings.Contains(wa, `error="`+tc.wantError+`"`) {
					t.Fatalf("WWW-Authenticate %q, want error=%q", wa, tc.wantError)
				}
				if !a.has(t, problem.CodeUnauthenticated) {
					t.Fatalf("body %s", a.body)
				}
			}
		})
	}
	// A provider's key is a credential, but not a citizen's: 403.
	if a := e.do(http.MethodGet, "/api/v1/me/certificates", e.sandbox, nil); a.status != http.StatusForbidden {
		t.Fatalf("provider key: %d %s", a.status, a.body)
	}
	// The identity provider's keys unreachable on a cold start: 503, not 401.
	e2 := newEnv(t, "embedded", envOptions{citizens: true})
	e2.idp.SetFaults(idp.Faults{JWKSDown: true})
	a := e2.do(http.MethodGet, "/api/v1/me/certificates", e2.token(idp.Token{PNR: tolvan}), nil)
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || !a.has(t, problem.CodeIdPUnavailable) {
		t.Fatalf("JWKS down: %d %v %s", a.status, a.header, a.body)
	}
}

// TestCitizenBudgetSeparate: with the citizens' budget exhausted citizens get 503 overloaded,
// while providers keep issuing.
func TestCitizenBudgetSeparate(t *testing.T) {
	lim, err := admission.New(admission.Config{Name: "citizen", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "embedded", envOptions{citizens: true, citizenAdmit: lim})
	held, _, _ := lim.Acquire(context.Background())
	if held == nil {
		t.Fatal("could not take the only citizen slot")
	}
	a := e.do(http.MethodGet, "/api/v1/me/certificates", e.token(idp.Token{PNR: tolvan}), nil)
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || !a.has(t, problem.CodeOverloaded) {
		t.Fatalf("citizen with the budget full: %d %s", a.status, a.body)
	}
	// Unauthenticated requests are refused before they could take a slot.
	if a := e.do(http.MethodGet, "/api/v1/me/certificates", "", nil); a.status != http.StatusUnauthorized {
		t.Fatalf("no token with the budget full: %d", a.status)
	}
	c := e.issueFor(issuer.KindTest, tolvan, "t-during-rush")
	held.Release()
	a = e.do(http.MethodGet, "/api/v1/me/certificates", e.token(idp.Token{PNR: tolvan}), nil)
	if a.status != http.StatusOK || !strings.Contains(string(a.body), c.uvci) {
		t.Fatalf("after the rush: %d %s", a.status, a.body)
	}
}

// TestCitizenProductionOnly: as in production, a citizen sees the certificates issued with
// production credentials, delivered to the citizen service; a sandbox certificate to the same
// number is not theirs to see and says it is handed out by the provider.
func TestCitizenProductionOnly(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{citizens: true, productionOnly: true})
	prod := e.issueWith(e.prod, issuer.Production, issuer.KindTest, asa, "p-1")
	sand := e.issueWith(e.sandbox, issuer.Sandbox, issuer.KindTest, asa, "s-1")
	if prod.delivery != string(issuer.DeliveryCitizen) || sand.delivery != string(issuer.DeliveryHandout) {
		t.Fatalf("delivery: production %q, sandbox %q", prod.delivery, sand.delivery)
	}
	tok := e.token(idp.Token{PNR: asa})
	a := e.do(http.MethodGet, "/api/v1/me/certificates", tok, nil)
	var list meList
	if err := json.Unmarshal(a.body, &list); err != nil || len(list.Certificates) != 1 || list.Certificates[0].UVCI != prod.uvci {
		t.Fatalf("list %d %s, want only the production certificate", a.status, a.body)
	}
	if a := e.do(http.MethodGet, certPath(sand.uvci), tok, nil); a.status != http.StatusNotFound {
		t.Fatalf("the sandbox certificate: %d, want 404", a.status)
	}
}

// TestCitizenSeesRevocation: a certificate its provider revoked shows as revoked in the
// citizen's list.
func TestCitizenSeesRevocation(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{citizens: true})
	kept := e.issueFor(issuer.KindTest, tolvan, "rev-kept")
	withdrawn := e.issueFor(issuer.KindTest, tolvan, "rev-withdrawn")
	if a := e.post("/api/v1/certificates/"+url.PathEscape(withdrawn.uvci)+"/revoke", e.sandbox, []byte(`{"reason":"issued-in-error"}`)); a.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", a.status, a.body)
	}
	a := e.do(http.MethodGet, "/api/v1/me/certificates", e.token(idp.Token{PNR: tolvan}), nil)
	var list struct {
		Certificates []struct {
			UVCI, Status string
			Revoked      bool
		}
	}
	if err := json.Unmarshal(a.body, &list); err != nil || a.status != http.StatusOK {
		t.Fatalf("list: %d %v %s", a.status, err, a.body)
	}
	got := map[string]string{}
	for _, c := range list.Certificates {
		if c.Revoked != (c.Status == "revoked") {
			t.Errorf("%s: revoked %v with status %s", c.UVCI, c.Revoked, c.Status)
		}
		got[c.UVCI] = c.Status
	}
	if got[kept.uvci] != "valid" || got[withdrawn.uvci] != "revoked" {
		t.Fatalf("statuses %v", got)
	}

	// The web page says the same, in the list and on the certificate's own page.
	c := webClient(t)
	if resp, _ := fetch(t, c, e.signInUntilCallback(t, c, tolvan)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	_, page := fetch(t, c, e.url+"/?lang=en")
	if n := strings.Count(page, `class="status-revoked">Revoked<`); n != 1 {
		t.Errorf("the list shows %d revoked certificates, want 1:\n%s", n, page)
	}
	if n := strings.Count(page, `class="status-valid">Valid<`); n != 1 {
		t.Errorf("the list shows %d valid certificates, want 1", n)
	}
	for uvci, want := range map[string]string{withdrawn.uvci: "Återkallat", kept.uvci: "Giltigt"} {
		_, page := fetch(t, c, e.url+"/certificates/"+url.PathEscape(uvci)+"?lang=sv")
		if !strings.Contains(page, ">"+want+"<") {
			t.Errorf("the page of %s does not say %s:\n%s", uvci, want, page)
		}
		if notice := strings.Contains(page, `id="withdrawn"`); notice != (uvci == withdrawn.uvci) {
			t.Errorf("the page of %s has the withdrawal notice: %v", uvci, notice)
		}
	}
}
