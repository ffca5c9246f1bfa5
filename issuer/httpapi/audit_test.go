package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/httpapi"
)

// otherPNR is the person of the production provider's certificate.
const otherPNR = "198503122387"

type searchedEvent struct {
	ID             string   `json:"id"`
	RequestID      string   `json:"requestId"`
	Provider       string   `json:"provider"`
	Role           string   `json:"role"`
	Status         int      `json:"status"`
	Outcome        string   `json:"outcome"`
	Codes          []string `json:"codes"`
	IdentitySource string   `json:"identitySource"`
	UVCI           string   `json:"uvci"`
	Subject        *struct{ BirthYear string }
	Notes          []string                  `json:"notes"`
	Answer         *httpapi.OperationOutcome `json:"answer"`
}

type searchedPage struct {
	Events []searchedEvent `json:"events"`
	Next   string          `json:"next"`
}

func (a answer) page(t testing.TB) searchedPage {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("search answered %d: %s", a.status, a.body)
	}
	var p searchedPage
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Fatalf("search answer: %v\n%s", err, a.body)
	}
	return p
}

func (e *testEnv) search(key string, q url.Values, header ...string) answer {
	e.t.Helper()
	return e.do(http.MethodGet, "/api/v1/audit?"+q.Encode(), key, nil, header...)
}

// addPrincipal creates a credential of the given role.
func (e *testEnv) addPrincipal(name string, role issuer.Role) (issuer.Principal, string) {
	e.t.Helper()
	p, token, err := e.creds.Add(context.Background(), issuer.NewPrincipal{Name: name, Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	return p, token
}

func principalOf(t *testing.T, e *testEnv, key string) issuer.Principal {
	t.Helper()
	p, err := e.creds.Authenticate(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAuditSearch(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind, envOptions{})
			now := fhirtest.Now(e.now)
			sandbox, prod := principalOf(t, e, e.sandbox), principalOf(t, e, e.prod)
			_, admin := e.addPrincipal("Support Admin", issuer.RoleSupportAdmin)

			// A refused request (no time zone) and an issued one by the sandbox provider, an issued
			// one by the production provider.
			refused := e.post("/api/v1/observation", e.sandbox,
				fhirtest.Observation(fhirtest.NAAT, now, fhirtest.AtRaw(e.now.Add(-time.Hour).Format("2006-01-02T15:04:05"))),
				"X-Request-ID", "refused-1")
			if refused.status != 422 || !refused.has(t, "timezone-missing") {
				t.Fatalf("fixture: refusal answered %d: %s", refused.status, refused.body)
			}
			if a := e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.NAAT, now), "X-Request-ID", "issued-1"); a.status != 200 {
				t.Fatalf("fixture: issue %d: %s", a.status, a.body)
			}
			if a := e.post("/api/v1/observation", e.prod, fhirtest.Observation(fhirtest.RAT, now, fhirtest.Identifier("P-1"), fhirtest.PNR(otherPNR)), "X-Request-ID", "prod-1"); a.status != 200 {
				t.Fatalf("fixture: issue %d: %s", a.status, a.body)
			}

			t.Run("support finds a refused request by its RequestID, answered as the provider was", func(t *testing.T) {
				p := e.search(e.support, url.Values{"request_id": {"refused-1"}}).page(t)
				if len(p.Events) != 1 {
					t.Fatalf("%d events for refused-1, want 1: %+v", len(p.Events), p.Events)
				}
				ev := p.Events[0]
				if ev.Outcome != "rejected" || ev.Status != 422 || !slices.Contains(ev.Codes, "timezone-missing") || ev.Provider != sandbox.ID {
					t.Errorf("event %+v", ev)
				}
				var got httpapi.OperationOutcome
				if err := json.Unmarshal(refused.body, &got); err != nil {
					t.Fatal(err)
				}
				if ev.Answer == nil {
					t.Fatal("no answer recorded")
				}
				want, _ := json.Marshal(got)
				have, _ := json.Marshal(*ev.Answer)
				if string(want) != string(have) {
					t.Errorf("answer shown to support differs from the provider's:\n got  %s\n want %s", have, want)
				}
				if ev.Answer.Issue[0].Expression[0] != "Observation.effectiveDateTime" {
					t.Errorf("FHIRPath %v", ev.Answer.Issue[0].Expression)
				}
			})

			t.Run("filters", func(t *testing.T) {
				for q, want := range map[string]int{
					"code=timezone-missing":                 1,
					"outcome=issued&provider=" + prod.ID:    1,
					"outcome=issued&kind=test":              2,
					"environment=production&outcome=issued": 1,
					"identity_source=register":              2,
					"code=timezone-missing&from=" + url.QueryEscape(e.now.Add(time.Minute).Format(time.RFC3339)): 0,
				} {
					v, _ := url.ParseQuery(q)
					if got := len(e.search(e.support, v).page(t).Events); got != want {
						t.Errorf("%s: %d events, want %d", q, got, want)
					}
				}
				for _, bad := range []string{"outcome=won", "kind=x", "from=yesterday", "limit=0", "limit=501", "to=2026-01-01&from=2026-02-01"} {
					v, _ := url.ParseQuery(bad)
					a := e.search(e.support, v)
					if a.status/100 != 4 || !a.has(t, "audit-filter-invalid") {
						t.Errorf("%s: %d %s", bad, a.status, a.body)
					}
				}
				if a := e.search(e.support, url.Values{"cursor": {"bm90IGEgY3Vyc29y"}}); a.status != 400 || !a.has(t, "cursor-invalid") {
					t.Errorf("bad cursor: %d %s", a.status, a.body)
				}
			})

			t.Run("cursor paging", func(t *testing.T) {
				var seen []string
				q := url.Values{"limit": {"1"}, "outcome": {"issued"}}
				for range 10 {
					p := e.search(e.support, q).page(t)
					for _, ev := range p.Events {
						seen = append(seen, ev.ID)
					}
					if p.Next == "" {
						break
					}
					q.Set("cursor", p.Next)
				}
				if len(seen) != 2 || seen[0] == seen[1] {
					t.Errorf("paged %v, want the 2 issued events once each", seen)
				}
			})

			t.Run("a provider reads only its own events", func(t *testing.T) {
				p := e.search(e.sandbox, url.Values{}).page(t)
				if len(p.Events) < 2 {
					t.Fatalf("provider sees %d events, want its own 2 at least", len(p.Events))
				}
				for _, ev := range p.Events {
					if ev.Provider != sandbox.ID {
						t.Errorf("provider sees an event of %q: %+v", ev.Provider, ev)
					}
				}
				if got := e.search(e.sandbox, url.Values{"request_id": {"prod-1"}}).page(t); len(got.Events) != 0 {
					t.Errorf("provider found another provider's request: %+v", got.Events)
				}
				if a := e.search(e.sandbox, url.Values{"provider": {prod.ID}}); a.status != 403 || !a.has(t, "forbidden") {
					t.Errorf("provider filter naming another provider: %d %s", a.status, a.body)
				}
				if got := e.search(e.prod, url.Values{"request_id": {"prod-1"}}).page(t); len(got.Events) != 1 {
					t.Errorf("production provider does not find its own request: %+v", got.Events)
				}
			})

			t.Run("support cannot issue", func(t *testing.T) {
				for _, key := range []string{e.support, admin} {
					a := e.post("/api/v1/observation", key, fhirtest.Observation(fhirtest.NAAT, now, fhirtest.Identifier("S-1")))
					if a.status != 403 || !a.has(t, "forbidden") {
						t.Errorf("support issuing: %d %s", a.status, a.body)
					}
				}
			})

			pnrHeader := []string{"X-Personnummer", fhirtest.DefaultPNR}
			t.Run("only support administrators search by personnummer", func(t *testing.T) {
				for who, key := range map[string]string{"provider": e.sandbox, "support": e.support} {
					a := e.search(key, url.Values{"reason": {"ticket 1"}}, pnrHeader...)
					if a.status != 403 || !a.has(t, "forbidden") {
						t.Errorf("%s searching by personnummer: %d %s", who, a.status, a.body)
					}
				}
				// A citizen has no API key: whatever it sends is no credential here.
				for _, token := range []string{"", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxOTEyMTIxMjEyMTIifQ.c2ln"} {
					if a := e.search(token, url.Values{}, pnrHeader...); a.status != 401 {
						t.Errorf("citizen token %q: %d %s", token, a.status, a.body)
					}
				}
				if a := e.search(admin, url.Values{"personnummer": {fhirtest.DefaultPNR}, "reason": {"x"}}); a.status != 422 || !a.has(t, "audit-filter-invalid") {
					t.Errorf("personnummer in the URL: %d %s", a.status, a.body)
				}
				if a := e.search(admin, url.Values{}, pnrHeader...); a.status != 422 || !a.has(t, "reason-required") {
					t.Errorf("admin without a reason: %d %s", a.status, a.body)
				}
				if a := e.search(admin, url.Values{"reason": {"x"}}, "X-Personnummer", "191212121213"); a.status != 422 || !a.has(t, "audit-filter-invalid") {
					t.Errorf("bad personnummer: %d %s", a.status, a.body)
				}
				// The sandbox provider's requests were for the default person; sandbox requests are
				// found with the sandbox filter (they are hashed apart from production ones).
				for _, ev := range e.search(admin, url.Values{"reason": {"SD-4710"}}, pnrHeader...).page(t).Events {
					if ev.Role != "support-admin" { // earlier searches for the person are found too
						t.Errorf("production search found a sandbox event: %+v", ev)
					}
				}
				p := e.search(admin, url.Values{"reason": {"Ticket SD-4711: caller asks why refused"}, "environment": {"sandbox"}}, pnrHeader...).page(t)
				var issued int
				for _, ev := range p.Events {
					if ev.Outcome == "issued" {
						issued++
					}
				}
				if issued != 1 {
					t.Errorf("person search found %d issued events, want 1: %+v", issued, p.Events)
				}
				// Also found: earlier searches for the person (they are recorded under its hash).
				for _, ev := range p.Events {
					if ev.Provider != sandbox.ID && ev.Role != "support-admin" {
						t.Errorf("person search found another person's event %+v", ev)
					}
				}
				other := e.search(admin, url.Values{"reason": {"SD-4712"}}, "X-Personnummer", otherPNR).page(t)
				if len(other.Events) != 1 || other.Events[0].RequestID != "prod-1" {
					t.Errorf("other person's search found %+v, want prod-1", other.Events)
				}
			})

			t.Run("every read is audited, the person search with its reason and without the number", func(t *testing.T) {
				p := e.search(e.support, url.Values{"outcome": {"read"}, "limit": {"500"}}).page(t)
				var supportRead, adminPerson bool
				for _, ev := range p.Events {
					all := strings.Join(ev.Notes, " ")
					if ev.Role == "support" && strings.Contains(all, "filter:request_id=refused-1") && strings.Contains(all, "results:1") {
						supportRead = true
					}
					if ev.Role == "support-admin" && strings.Contains(all, "reason:Ticket SD-4711") {
						adminPerson = true
						if !strings.Contains(all, "person=1912") || ev.Subject == nil || ev.Subject.BirthYear != "1912" {
							t.Errorf("person search event %+v", ev)
						}
					}
				}
				if !supportRead || !adminPerson {
					t.Errorf("reads recorded: support %v, person search %v; events %+v", supportRead, adminPerson, p.Events)
				}
				// Refused searches are recorded too.
				refusedReads := e.search(e.support, url.Values{"outcome": {"rejected"}, "code": {"reason-required"}}).page(t)
				if len(refusedReads.Events) == 0 {
					t.Error("refused person search not recorded")
				}
			})

			t.Run("masked output holds no personnummer and no birth date", func(t *testing.T) {
				for _, key := range []string{e.support, admin, e.sandbox} {
					a := e.search(key, url.Values{"limit": {"500"}})
					if len(a.page(t).Events) == 0 {
						t.Fatal("nothing to check")
					}
					body := string(a.body)
					for _, leak := range []string{fhirtest.DefaultPNR, "19121212", "1912-12-12", "121212-1212", otherPNR, "19850312", "1985-03-12", "****"} {
						if strings.Contains(body, leak) {
							t.Errorf("search answer contains %q", leak)
						}
					}
					if !strings.Contains(body, `"birthYear":"1912"`) {
						t.Errorf("search answer lacks the birth year")
					}
				}
				if logs := e.logs.String(); strings.Contains(logs, fhirtest.DefaultPNR) || strings.Contains(logs, otherPNR) {
					t.Error("a log line holds the personnummer")
				}
			})
		})
	}
}
