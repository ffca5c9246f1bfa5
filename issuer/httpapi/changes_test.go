package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/issuer/httpapi"
)

// A route with an announced change answers with Deprecation (RFC 9745) and Sunset (RFC 8594)
// headers and links to where the notice is; other routes, and the same path by another method,
// carry none.
func TestAnnouncedChangeHeaders(t *testing.T) {
	announced := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	sunset := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	e := newEnv(t, "embedded", envOptions{changes: []httpapi.APIChange{{
		ID: "compat-observation-2027", Method: http.MethodPost, Path: "/observation",
		Deprecated: announced, Sunset: sunset, Summary: "POST /observation moves to /api/v1/observation.",
	}}})
	a := e.post("/observation", e.sandbox, fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now)))
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	if got := a.header.Get("Deprecation"); got != "@1788220800" {
		t.Errorf("Deprecation %q, want @1788220800 (%s)", got, announced)
	}
	if got := a.header.Get("Sunset"); got != "Mon, 01 Mar 2027 00:00:00 GMT" {
		t.Errorf("Sunset %q", got)
	}
	links := a.header.Values("Link")
	if len(links) != 2 || links[0] != `</status>; rel="deprecation"; type="text/html"` || links[1] != `</status>; rel="sunset"; type="text/html"` {
		t.Errorf("Link %q", links)
	}
	// A refusal on the route carries them too: a client that only ever sees errors is told.
	if a := e.post("/observation", "", []byte(`{}`)); a.header.Get("Sunset") == "" || a.status != http.StatusUnauthorized {
		t.Errorf("refusal %d without Sunset", a.status)
	}
	for _, other := range []answer{
		e.post("/api/v1/observation", e.sandbox, fhirtest.Observation(fhirtest.RAT, fhirtest.Now(e.now), fhirtest.Identifier("OTHER"))),
		e.do(http.MethodGet, "/ping", "", nil),
	} {
		if other.header.Get("Deprecation") != "" || other.header.Get("Sunset") != "" {
			t.Errorf("a route without an announced change answered Deprecation %q Sunset %q", other.header.Get("Deprecation"), other.header.Get("Sunset"))
		}
	}
}

// Each announced change is published once in the status feed, as a notice from its announcement
// to its sunset; a change past its sunset is not.
func TestPublishChanges(t *testing.T) {
	st := openStore(t, "embedded")
	now := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	changes := []httpapi.APIChange{
		{ID: "a", Method: http.MethodPost, Path: "/observation", Deprecated: now.AddDate(0, -1, 0), Sunset: now.AddDate(0, 5, 0), Summary: "Moves."},
		{ID: "gone", Method: http.MethodPost, Path: "/recovery", Deprecated: now.AddDate(-1, 0, 0), Sunset: now.AddDate(0, -1, 0), Summary: "Gone."},
	}
	n, err := httpapi.PublishChanges(t.Context(), st, changes, now)
	if err != nil || n != 1 {
		t.Fatalf("first publication: %d notices, %v; want 1", n, err)
	}
	if n, err := httpapi.PublishChanges(t.Context(), st, changes, now.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("second publication (a restart): %d notices, %v; want none", n, err)
	}
	events, err := st.StatusEvents(t.Context(), now, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("%d events, want the one notice: %+v", len(events), events)
	}
	ev := events[0]
	if ev.ID != "api-change-a" || ev.Kind != "notice" || !ev.OpenedAt.Equal(changes[0].Deprecated) || ev.Until == nil || !ev.Until.Equal(changes[0].Sunset) {
		t.Errorf("notice %+v", ev)
	}
	if ev.Title != "API change: POST /observation changes on 2027-03-01" {
		t.Errorf("title %q", ev.Title)
	}
}
