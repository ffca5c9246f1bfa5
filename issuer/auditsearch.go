package issuer

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/registry/pnr"
)

// MaxReasonLength bounds the reason a support administrator gives for a search by personnummer.
const MaxReasonLength = 300

// AuditSearch is one search of the audit log as a caller asks it.
type AuditSearch struct {
	// Query holds the filters. Its SubjectKey is ignored: a person is searched by Personnummer.
	Query AuditQuery
	// Personnummer (or samordningsnummer), 12 digits: support administrators only. It is turned
	// into the keyed subject hash and never stored or logged in clear. The production hash is
	// searched unless Query.Environment is sandbox (sandbox requests are hashed apart).
	Personnummer string
	// Reason is why a support administrator searches a person; required with Personnummer.
	Reason string
	// RequestID and Route name the search in the audit event that records it.
	RequestID string
	Route     string
	Received  time.Time
}

// SearchAudit runs a search of the audit log for who, under the rules of its role:
//   - support and support administrators search every event;
//   - a provider searches its own events only (its own provider filter is implied, another is
//     refused);
//   - only a support administrator may search one person's events by personnummer, and must say
//     why.
//
// Every search, answered or refused, is itself recorded in the audit log (who, the filter and
// the number of results, or the refusal's codes). An answered search is recorded before its
// results are returned: results whose reading could not be recorded are not given out.
func (s *Service) SearchAudit(ctx context.Context, who Principal, req AuditSearch) (AuditPage, error) {
	if req.Received.IsZero() {
		req.Received = s.now()
	}
	q := req.Query
	q.SubjectKey = nil
	ev := AuditEvent{RequestID: req.RequestID, PrincipalID: who.ID, Role: who.Role, Route: req.Route,
		Environment: who.Environment}
	refuse := func(p problem.List) (AuditPage, error) {
		ev.ID, ev.At = s.newID(), s.now()
		ev.Status, ev.Outcome, ev.Codes, ev.Problems = p.Status(), OutcomeRejected, p.Codes(), p
		ev.Notes = []string{"filter:" + describeQuery(q, ev.SubjectMasked)}
		ev.Latency = ev.At.Sub(req.Received)
		if err := s.store.Record(ctx, Record{Audit: ev}); err != nil {
			s.log.ErrorContext(ctx, "record refused audit search", "request_id", req.RequestID, "err", err)
		}
		return AuditPage{}, p
	}

	switch who.Role {
	case RoleSupport, RoleSupportAdmin:
	case RoleProvider:
		if q.PrincipalID != "" && q.PrincipalID != who.ID {
			return refuse(problem.New(problem.CodeForbidden, "provider",
				"A provider credential searches its own requests only. Leave out the provider filter, or ask the service desk."))
		}
		q.PrincipalID = who.ID
	default:
		return refuse(problem.New(problem.CodeForbidden, "", "This credential may not read the audit log."))
	}
	if p := validQuery(q); p != nil {
		return refuse(p)
	}

	var reason string
	if req.Personnummer != "" {
		if who.Role != RoleSupportAdmin {
			return refuse(problem.New(problem.CodeForbidden, "personnummer",
				"Only a support administrator may search a person's requests by personnummer. Search by RequestID, UVCI or provider instead."))
		}
		n, err := parseNumber(req.Personnummer, s.now())
		if err != nil {
			return refuse(problem.New(problem.CodeAuditFilterInvalid, "personnummer",
				"Send the personnummer or samordningsnummer as 12 digits YYYYMMDDNNNN without hyphen."))
		}
		// Sandbox requests are stored under a key of their own: the environment filter says
		// which to search, production when none is given.
		env := Production
		if q.Environment == Sandbox {
			env = Sandbox
		}
		q.SubjectKey = s.subjectKeyIn(env, n.Digits())
		ev.SubjectKey, ev.SubjectMasked = q.SubjectKey, n.Masked()
		reason = strings.Join(strings.Fields(req.Reason), " ")
		if reason == "" || utf8.RuneCountInString(reason) > MaxReasonLength {
			return refuse(problem.New(problem.CodeReasonRequired, "reason", fmt.Sprintf(
				"Say why you search this person (1 to %d characters, e.g. the ticket number); the search and its reason are recorded.", MaxReasonLength)))
		}
	}

	if s.auditLog == nil {
		return AuditPage{}, fmt.Errorf("%w: no audit reader configured", problem.Internal())
	}
	page, err := s.auditLog.SearchAudit(ctx, q)
	switch {
	case errors.Is(err, ErrInvalidCursor):
		return refuse(problem.New(problem.CodeCursorInvalid, "cursor",
			"Send the cursor exactly as the previous page's next gave it, or leave it out for the first page."))
	case err != nil:
		s.log.ErrorContext(ctx, "search audit", "request_id", req.RequestID, "err", err)
		return AuditPage{}, s.unavailableStore(err)
	}

	ev.ID, ev.At = s.newID(), s.now()
	ev.Status, ev.Outcome = 200, OutcomeRead
	ev.Notes = []string{"filter:" + describeQuery(q, ev.SubjectMasked), "results:" + strconv.Itoa(len(page.Events))}
	if reason != "" {
		ev.Notes = append(ev.Notes, "reason:"+reason)
	}
	ev.Latency = ev.At.Sub(req.Received)
	if err := s.store.Record(ctx, Record{Audit: ev}); err != nil {
		s.log.ErrorContext(ctx, "record audit search", "request_id", req.RequestID, "err", err)
		return AuditPage{}, s.unavailableStore(err)
	}
	return page, nil
}

// parseNumber reads a personnummer, or failing that a samordningsnummer.
func parseNumber(digits string, now time.Time) (pnr.Number, error) {
	n, err := pnr.Parse(digits, pnr.Personnummer, now)
	if err == nil {
		return n, nil
	}
	if n, err2 := pnr.Parse(digits, pnr.Samordningsnummer, now); err2 == nil {
		return n, nil
	}
	return pnr.Number{}, err
}

// validQuery checks the values of the enumerated filters and the time range.
func validQuery(q AuditQuery) problem.List {
	var p problem.List
	bad := func(param, text string) {
		p = append(p, problem.Make(problem.CodeAuditFilterInvalid, param, text))
	}
	switch q.Outcome {
	case "", OutcomeIssued, OutcomeReplayed, OutcomeRejected, OutcomeFailed, OutcomeRead:
	default:
		bad("outcome", "Send outcome as one of issued, replayed, rejected, failed, read.")
	}
	switch q.IdentitySource {
	case "", SourceRegister, SourceProvided, SourceFallback:
	default:
		bad("identity_source", "Send identity_source as one of register, provided, birthdate-fallback.")
	}
	switch q.Kind {
	case "", KindTest, KindRecovery, KindVaccination:
	default:
		bad("kind", "Send kind as one of test, recovery, vaccination.")
	}
	switch q.Environment {
	case "", Sandbox, Production:
	default:
		bad("environment", "Send environment as sandbox or production.")
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		bad("to", "Send a to that is not before from (from is inclusive, to exclusive).")
	}
	for param, v := range map[string]string{"request_id": q.RequestID, "uvci": q.UVCI, "provider": q.PrincipalID, "code": q.Code} {
		if len(v) > 200 {
			bad(param, "Send at most 200 characters.")
		}
	}
	return p
}

// describeQuery writes the filters of q for the audit event that records the search, with a
// searched person shown as the masked number (birth date and ****), never in clear.
func describeQuery(q AuditQuery, subjectMasked string) string {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("request_id", q.RequestID)
	set("uvci", q.UVCI)
	set("provider", q.PrincipalID)
	set("outcome", string(q.Outcome))
	set("code", q.Code)
	set("identity_source", string(q.IdentitySource))
	set("kind", string(q.Kind))
	set("environment", string(q.Environment))
	if !q.From.IsZero() {
		set("from", q.From.UTC().Format(time.RFC3339))
	}
	if !q.To.IsZero() {
		set("to", q.To.UTC().Format(time.RFC3339))
	}
	if len(q.SubjectKey) > 0 {
		set("person", BirthYear(subjectMasked))
	}
	if q.Cursor != "" {
		set("page", "next")
	}
	return v.Encode()
}

// BirthYear is as much of a masked personnummer (19121212****) as support staff are shown: the
// year of birth. Anything else gives "".
func BirthYear(masked string) string {
	if len(masked) < 4 {
		return ""
	}
	for _, c := range masked[:4] {
		if c < '0' || c > '9' {
			return ""
		}
	}
	return masked[:4]
}
