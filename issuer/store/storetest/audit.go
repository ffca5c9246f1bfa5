package storetest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/auditpage"
)

// newestFirst orders events as the store must: by At, then ID, both descending.
func newestFirst(a, b issuer.AuditEvent) int {
	if c := b.At.Compare(a.At); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// matches is the reference meaning of an AuditQuery's filters.
func matches(q issuer.AuditQuery, e issuer.AuditEvent) bool {
	return (q.RequestID == "" || e.RequestID == q.RequestID) &&
		(q.UVCI == "" || e.UVCI == q.UVCI) &&
		(q.PrincipalID == "" || e.PrincipalID == q.PrincipalID) &&
		(q.Outcome == "" || e.Outcome == q.Outcome) &&
		(q.Code == "" || slices.Contains(e.Codes, q.Code)) &&
		(q.IdentitySource == "" || e.IdentitySource == q.IdentitySource) &&
		(q.Kind == "" || e.Kind == q.Kind) &&
		(q.Environment == "" || e.Environment == q.Environment) &&
		(len(q.SubjectKey) == 0 || bytes.Equal(e.SubjectKey, q.SubjectKey)) &&
		(q.From.IsZero() || !e.At.Before(q.From)) &&
		(q.To.IsZero() || e.At.Before(q.To))
}

func expected(events []issuer.AuditEvent, q issuer.AuditQuery) []string {
	var out []issuer.AuditEvent
	for _, e := range events {
		if matches(q, e) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, newestFirst)
	return ids(out)
}

// auditLog records n varied events; many share a time, so ordering needs the ID as well.
func auditLog(t *testing.T, s issuer.Store, n int) []issuer.AuditEvent {
	t.Helper()
	outcomes := []issuer.Outcome{issuer.OutcomeIssued, issuer.OutcomeRejected, issuer.OutcomeReplayed, issuer.OutcomeFailed}
	var events []issuer.AuditEvent
	for i := range n {
		e := issuer.AuditEvent{
			// IDs deliberately out of time order.
			ID:          fmt.Sprintf("ev-%04d", (i*37)%n),
			At:          base().Add(time.Duration(i%15) * time.Minute),
			RequestID:   fmt.Sprintf("req-%d", i%20),
			PrincipalID: fmt.Sprintf("prov-%d", i%3),
			Role:        issuer.RoleProvider,
			Route:       "POST /observation",
			Status:      200,
			Outcome:     outcomes[i%4],
			Kind:        issuer.KindTest,
		}
		e.Kind = []issuer.Kind{issuer.KindTest, issuer.KindRecovery, issuer.KindVaccination}[i%3]
		e.Environment = []issuer.Environment{issuer.Sandbox, issuer.Production}[i/3%2]
		if e.Outcome == issuer.OutcomeIssued || e.Outcome == issuer.OutcomeReplayed {
			e.UVCI = fmt.Sprintf("URN:UVCI:01:SE:X%d#A", i%10)
			e.IdentitySource = []issuer.IdentitySource{issuer.SourceRegister, issuer.SourceFallback, issuer.SourceProvided}[i%3]
		} else {
			e.Status, e.Codes = 422, []string{"valueset-unknown"}
			e.Problems = problem.New(problem.CodeValueSetUnknown, "Observation.code.coding[0].code", "Send a code from the value set.")
			if i%3 == 0 {
				// Several problems in one answer: a search by either code finds the event.
				e.Codes = append(e.Codes, "timezone-missing")
				e.Problems = append(e.Problems, problem.Make(problem.CodeTimezoneMissing, "Observation.effectiveDateTime", "Send the time with its zone."))
			}
		}
		if i%5 != 0 {
			e.SubjectKey, e.SubjectMasked = subject(i%2), "19121212****"
		}
		mustRecord(t, s, issuer.Record{Audit: e})
		events = append(events, e)
	}
	return events
}

func testAuditFilters(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	events := auditLog(t, s, 60)
	at := func(m int) time.Time { return base().Add(time.Duration(m) * time.Minute) }
	queries := map[string]issuer.AuditQuery{
		"none":                       {},
		"request id":                 {RequestID: "req-3"},
		"uvci":                       {UVCI: "URN:UVCI:01:SE:X2#A"},
		"principal":                  {PrincipalID: "prov-2"},
		"outcome":                    {Outcome: issuer.OutcomeRejected},
		"subject":                    {SubjectKey: subject(1)},
		"from (inclusive)":           {From: at(5)},
		"to (exclusive)":             {To: at(5)},
		"time range":                 {From: at(3), To: at(7)},
		"principal and outcome":      {PrincipalID: "prov-1", Outcome: issuer.OutcomeIssued},
		"principal, subject, range":  {PrincipalID: "prov-0", SubjectKey: subject(0), From: at(2), To: at(12)},
		"request id and uvci":        {RequestID: "req-2", UVCI: "URN:UVCI:01:SE:X2#A"},
		"code":                       {Code: "valueset-unknown"},
		"second code":                {Code: "timezone-missing"},
		"code and principal":         {Code: "timezone-missing", PrincipalID: "prov-1"},
		"code and range":             {Code: "valueset-unknown", From: at(3), To: at(9)},
		"unknown code":               {Code: "no-such-code"},
		"identity source":            {IdentitySource: issuer.SourceFallback},
		"kind":                       {Kind: issuer.KindVaccination},
		"environment":                {Environment: issuer.Production},
		"kind, environment, outcome": {Kind: issuer.KindRecovery, Environment: issuer.Sandbox, Outcome: issuer.OutcomeIssued},
		"unknown request id":         {RequestID: "req-none"},
		"empty range":                {From: at(4), To: at(4)},
		"outcome and range, no hits": {Outcome: issuer.OutcomeFailed, From: at(100)},
	}
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			want := expected(events, q)
			for _, limit := range []int{500, 4} {
				got := ids(allEvents(t, s, q, limit))
				if !slices.Equal(got, want) {
					t.Errorf("limit %d:\n got  %v\n want %v", limit, got, want)
				}
			}
		})
	}

	// The boundaries really are exercised: events exist at exactly From and exactly To.
	var atFrom, atTo int
	for _, e := range events {
		if e.At.Equal(at(3)) {
			atFrom++
		}
		if e.At.Equal(at(7)) {
			atTo++
		}
	}
	if atFrom == 0 || atTo == 0 {
		t.Fatalf("fixture has no events on the range boundaries (%d, %d)", atFrom, atTo)
	}

	// Full events come back, not only IDs.
	page, err := s.SearchAudit(ctx(t), issuer.AuditQuery{Limit: 500})
	if err != nil {
		t.Fatalf("SearchAudit: %v", err)
	}
	sorted := slices.Clone(events)
	slices.SortFunc(sorted, newestFirst)
	equal(t, "all events", page.Events, sorted)
}

func testAuditPaging(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	const n = 520
	events := auditLog(t, s, n)

	// Small pages: every event exactly once, in order.
	got := allEvents(t, s, issuer.AuditQuery{}, 7)
	want := expected(events, issuer.AuditQuery{})
	if !slices.Equal(ids(got), want) {
		t.Fatalf("paging by 7 returned %d events, want %d in order;\n got  %v\n want %v", len(got), len(want), ids(got), want)
	}

	if auditpage.MaxLimit != issuer.MaxAuditPage {
		t.Fatalf("auditpage.MaxLimit %d, issuer.MaxAuditPage %d: one page size", auditpage.MaxLimit, issuer.MaxAuditPage)
	}
	// Limit 0 means 50; limits above 500 mean 500.
	for limit, size := range map[int]int{0: 50, -3: 50, 1000: 500, 500: 500} {
		page, err := s.SearchAudit(ctx(t), issuer.AuditQuery{Limit: limit})
		if err != nil {
			t.Fatalf("SearchAudit(limit %d): %v", limit, err)
		}
		if len(page.Events) != size || page.Next == "" {
			t.Errorf("limit %d: page of %d events (next %q), want %d and a cursor", limit, len(page.Events), page.Next, size)
		}
		if !slices.Equal(ids(page.Events), want[:size]) {
			t.Errorf("limit %d: not the newest %d events", limit, size)
		}
	}

	// A result that fills its last page exactly ends without a further cursor.
	q := issuer.AuditQuery{RequestID: "req-7"} // every 20th event
	matching := expected(events, q)
	if len(matching)%13 != 0 {
		t.Fatalf("fixture: %d events for %s, want a multiple of 13", len(matching), q.RequestID)
	}
	got = allEvents(t, s, q, 13)
	if !slices.Equal(ids(got), matching) {
		t.Errorf("exact pages:\n got  %v\n want %v", ids(got), matching)
	}

	// Events recorded while a client pages do not shift the pages it has yet to read.
	first, err := s.SearchAudit(ctx(t), issuer.AuditQuery{PrincipalID: "prov-1", Limit: 10})
	if err != nil {
		t.Fatalf("SearchAudit: %v", err)
	}
	for i := range 5 {
		mustRecord(t, s, issuer.Record{Audit: issuer.AuditEvent{
			ID: fmt.Sprintf("late-%d", i), At: base().Add(time.Hour), RequestID: "late", PrincipalID: "prov-1",
			Outcome: issuer.OutcomeIssued,
		}})
	}
	rest := allEvents(t, s, issuer.AuditQuery{PrincipalID: "prov-1", Cursor: first.Next}, 10)
	walked := append(ids(first.Events), ids(rest)...)
	if want := expected(events, issuer.AuditQuery{PrincipalID: "prov-1"}); !slices.Equal(walked, want) {
		t.Errorf("paging across new records:\n got  %v\n want %v", walked, want)
	}

	for _, bad := range []string{"not a cursor", "djI6MTIzOmU", "!!"} {
		_, err := s.SearchAudit(ctx(t), issuer.AuditQuery{Cursor: bad})
		if !errors.Is(err, auditpage.ErrInvalidCursor) || !errors.Is(err, issuer.ErrInvalidCursor) {
			t.Errorf("cursor %q: error %v, want ErrInvalidCursor", bad, err)
		}
	}
}

func testPurgeAudit(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	events := auditLog(t, s, 60) // at base() .. base()+14m
	cut := base().Add(6 * time.Minute)
	var older int64
	for _, e := range events {
		if e.At.Before(cut) {
			older++
		}
	}
	n, err := s.PurgeAudit(ctx(t), cut)
	if err != nil {
		t.Fatalf("PurgeAudit: %v", err)
	}
	if n != older || n == 0 {
		t.Fatalf("purged %d, want %d", n, older)
	}
	// What is left is exactly the events at or after the cut, by every filter (the code index
	// included: a purged event is not found by its code).
	for _, q := range []issuer.AuditQuery{{}, {Code: "valueset-unknown"}, {Code: "timezone-missing"}, {PrincipalID: "prov-1"}} {
		want := expected(events, issuer.AuditQuery{From: cut, Code: q.Code, PrincipalID: q.PrincipalID})
		if got := ids(allEvents(t, s, q, 500)); !slices.Equal(got, want) {
			t.Errorf("after the purge, %+v:\n got  %v\n want %v", q, got, want)
		}
	}
	if n, err := s.PurgeAudit(ctx(t), cut); err != nil || n != 0 {
		t.Errorf("second purge: %d, %v; want 0, nil", n, err)
	}
}

// testPurgeAuditBatches: a purge larger than one batch deletes everything before the time and
// keeps the rest.
func testPurgeAuditBatches(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	const n = 12000
	events := make([]issuer.AuditEvent, 0, 1000)
	for i := range n {
		events = append(events, issuer.AuditEvent{ID: fmt.Sprintf("old-%05d", i), At: base().Add(time.Duration(i) * time.Millisecond),
			RequestID: "bulk", Outcome: issuer.OutcomeRejected, Status: 422, Codes: []string{"valueset-unknown"}})
		if len(events) == cap(events) {
			if err := s.RecordAudit(ctx(t), events); err != nil {
				t.Fatalf("RecordAudit: %v", err)
			}
			events = events[:0]
		}
	}
	got, err := s.PurgeAudit(ctx(t), base().Add(11000*time.Millisecond))
	if err != nil {
		t.Fatalf("PurgeAudit: %v", err)
	}
	if got != 11000 {
		t.Fatalf("purged %d, want 11000", got)
	}
	left := allEvents(t, s, issuer.AuditQuery{Code: "valueset-unknown"}, 500)
	if len(left) != 1000 || left[len(left)-1].ID != "old-11000" {
		t.Errorf("left %d events, oldest %v; want 1000 from old-11000", len(left), ids(left[len(left)-1:]))
	}
}
