package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
)

// headerPersonnummer carries the personnummer of a support administrator's search by person: in
// a header, never in the URL, which proxies and browsers keep in their logs and histories.
const headerPersonnummer = "X-Personnummer"

// auditEvent is one event as a search answers it: no personnummer, no birth date, no subject
// hash; of the person only the year of birth.
type auditEvent struct {
	ID             string            `json:"id"`
	At             string            `json:"at"`
	RequestID      string            `json:"requestId"`
	Provider       string            `json:"provider,omitempty"`
	Role           string            `json:"role,omitempty"`
	Route          string            `json:"route"`
	Status         int               `json:"status"`
	Outcome        string            `json:"outcome"`
	Codes          []string          `json:"codes"`
	Kind           string            `json:"kind,omitempty"`
	Environment    string            `json:"environment,omitempty"`
	IdentitySource string            `json:"identitySource,omitempty"`
	UVCI           string            `json:"uvci,omitempty"`
	LatencyMs      float64           `json:"latencyMs"`
	Subject        *maskedSubject    `json:"subject,omitempty"`
	Notes          []string          `json:"notes,omitempty"`
	Answer         *OperationOutcome `json:"answer,omitempty"`
}

type maskedSubject struct {
	BirthYear string `json:"birthYear"`
}

type auditPage struct {
	Events []auditEvent `json:"events"`
	Next   string       `json:"next,omitempty"`
}

// maskEvent turns a stored event into what a search shows. The answer is the OperationOutcome the
// caller received, rebuilt from the recorded problems by the same function that answered it.
func maskEvent(e issuer.AuditEvent) auditEvent {
	out := auditEvent{
		ID: e.ID, At: e.At.UTC().Format(time.RFC3339Nano), RequestID: e.RequestID, Provider: e.PrincipalID,
		Role: string(e.Role), Route: e.Route, Status: e.Status, Outcome: string(e.Outcome), Codes: e.Codes,
		Kind: string(e.Kind), Environment: string(e.Environment), IdentitySource: string(e.IdentitySource),
		UVCI: e.UVCI, LatencyMs: float64(e.Latency.Microseconds()) / 1000, Notes: e.Notes,
	}
	if out.Codes == nil {
		out.Codes = []string{}
	}
	if y := issuer.BirthYear(e.SubjectMasked); y != "" {
		out.Subject = &maskedSubject{BirthYear: y}
	}
	if len(e.Problems) > 0 {
		oo := Outcome(e.Problems)
		out.Answer = &oo
	}
	return out
}

// auditSearch serves GET /api/v1/audit.
func (s *Server) auditSearch(c echo.Context) error {
	start := s.now()
	r := c.Request()
	route := r.Method + " " + c.Path()
	principal, err := s.authenticate(c)
	if err != nil {
		p, _ := problem.As(err)
		s.auditRefusal(r.Context(), issuer.AuditEvent{RequestID: requestID(c), Route: route,
			Status: p.Status(), Outcome: issuer.OutcomeRejected, Codes: p.Codes(), Problems: p,
			Latency: s.now().Sub(start)})
		return p
	}
	// A provider's searches count against its rate, like its issuance requests.
	if principal.Role == issuer.RoleProvider {
		if err := s.limits.allow(principal); err != nil {
			return err
		}
	}
	search, p := parseAuditSearch(r.URL.Query(), s.zone)
	if p != nil {
		return p
	}
	search.Personnummer = strings.TrimSpace(r.Header.Get(headerPersonnummer))
	search.RequestID, search.Route, search.Received = requestID(c), route, start
	page, err := s.issuer.SearchAudit(r.Context(), principal, search)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	c.Response().WriteHeader(http.StatusOK)
	return encodeJSON(c.Response(), renderAuditPage(page))
}

func renderAuditPage(page issuer.AuditPage) auditPage {
	out := auditPage{Events: make([]auditEvent, 0, len(page.Events)), Next: page.Next}
	for _, e := range page.Events {
		out.Events = append(out.Events, maskEvent(e))
	}
	return out
}

// parseAuditSearch reads the filters of a search from query parameters (the API's and the
// support page's form alike). A personnummer in the URL is refused.
func parseAuditSearch(v url.Values, zone *time.Location) (issuer.AuditSearch, problem.List) {
	var p problem.List
	bad := func(param, text string) {
		p = append(p, problem.Make(problem.CodeAuditFilterInvalid, param, text))
	}
	get := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	q := issuer.AuditQuery{
		RequestID:      get("request_id"),
		UVCI:           get("uvci"),
		PrincipalID:    get("provider"),
		Outcome:        issuer.Outcome(get("outcome")),
		Code:           get("code"),
		IdentitySource: issuer.IdentitySource(get("identity_source")),
		Kind:           issuer.Kind(get("kind")),
		Environment:    issuer.Environment(get("environment")),
		Cursor:         get("cursor"),
	}
	if v.Has("personnummer") {
		bad("personnummer", "Never put a personnummer in a URL: send it in the "+headerPersonnummer+" header (support administrators only).")
	}
	for _, k := range []string{"from", "to"} {
		raw := get(k)
		if raw == "" {
			continue
		}
		t, err := parseTime(raw, zone)
		if err != nil {
			bad(k, "Send "+k+" as an RFC 3339 date-time with zone (2026-11-27T08:00:00+01:00) or a date (2026-11-27, from midnight Swedish time).")
			continue
		}
		if k == "from" {
			q.From = t
		} else {
			q.To = t
		}
	}
	if raw := get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > issuer.MaxAuditPage {
			bad("limit", "Send limit as a number from 1 to "+strconv.Itoa(issuer.MaxAuditPage)+".")
		}
		q.Limit = n
	}
	if p != nil {
		return issuer.AuditSearch{}, p
	}
	return issuer.AuditSearch{Query: q, Reason: v.Get("reason")}, nil
}

// parseTime reads an RFC 3339 date-time with zone, or a date meaning its midnight in Sweden.
func parseTime(raw string, zone *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, raw); err == nil {
		return t, nil
	}
	return time.ParseInLocation(time.DateOnly, raw, zone)
}
