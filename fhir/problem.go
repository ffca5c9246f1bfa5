package fhir

import (
	"errors"
	"strings"
	"time"
)

// Class says what kind of failure a problem is, without naming a transport. The HTTP layer maps
// each class to one status code.
type Class int

const (
	// Invalid input that could not be read at all (malformed JSON, wrong resource type): 400.
	ClassMalformed Class = iota
	// Well-formed input that breaks a rule (bad personnummer, unknown code): 422.
	ClassInvalid
	// The request conflicts with what the service already holds (reused Identifier): 409.
	ClassConflict
	// The body is larger than the service accepts: 413.
	ClassTooLarge
	// No credential, or one that does not authenticate: 401.
	ClassUnauthenticated
	// An authenticated party that may not do this: 403.
	ClassForbidden
	// The thing asked for does not exist (or is not the caller's): 404.
	ClassNotFound
	// The path exists but does not take the method: 405.
	ClassMethodNotAllowed
	// Too many requests from this caller: 429, with Retry-After.
	ClassRateLimited
	// The service or a dependency cannot serve right now: 503, with Retry-After.
	ClassUnavailable
	// A fault inside the service that it cannot name: 500.
	ClassInternal
)

// Problem is one located finding about a request: a stable machine-readable code, the FHIRPath
// of the offending element, and a sentence that tells the sender what to send instead.
type Problem struct {
	Code       string // stable, e.g. "timezone-missing"
	Expression string // FHIRPath, e.g. "Observation.effectiveDateTime"; empty when not about an element
	Text       string // what to send instead
	Class      Class
	// IssueType is the FHIR issue-type code (http://hl7.org/fhir/issue-type); derived from Class
	// when empty.
	IssueType string
	// RetryAfter tells the caller when to try again (classes RateLimited and Unavailable).
	RetryAfter time.Duration
}

// Problems is the one error type the domain returns for anything it can name. Several problems
// travel together; the most severe class decides the status.
type Problems []Problem

func (p Problems) Error() string {
	var b strings.Builder
	for i, pr := range p {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(pr.Code)
		if pr.Expression != "" {
			b.WriteString(" at ")
			b.WriteString(pr.Expression)
		}
	}
	return b.String()
}

// Class returns the class that decides the answer: the highest-priority class among the problems.
func (p Problems) Class() Class {
	if len(p) == 0 {
		return ClassInternal
	}
	best := p[0].Class
	for _, pr := range p[1:] {
		if classRank(pr.Class) > classRank(best) {
			best = pr.Class
		}
	}
	return best
}

// RetryAfter is the longest wait any of the problems asks for.
func (p Problems) RetryAfter() time.Duration {
	var d time.Duration
	for _, pr := range p {
		if pr.RetryAfter > d {
			d = pr.RetryAfter
		}
	}
	return d
}

// Codes lists the problems' codes in order.
func (p Problems) Codes() []string {
	out := make([]string, len(p))
	for i, pr := range p {
		out[i] = pr.Code
	}
	return out
}

// Has reports whether a problem with the given code is present.
func (p Problems) Has(code string) bool {
	for _, pr := range p {
		if pr.Code == code {
			return true
		}
	}
	return false
}

// classRank orders classes so that, when problems of several classes travel together, the answer
// reflects the one the caller must deal with first (an outage before a conflict before bad input).
func classRank(c Class) int {
	switch c {
	case ClassInternal:
		return 100
	case ClassUnavailable:
		return 90
	case ClassRateLimited:
		return 80
	case ClassUnauthenticated:
		return 70
	case ClassForbidden:
		return 60
	case ClassTooLarge:
		return 50
	case ClassMalformed:
		return 40
	case ClassNotFound:
		return 35
	case ClassMethodNotAllowed:
		return 36
	case ClassConflict:
		return 30
	case ClassInvalid:
		return 20
	}
	return 0
}

// New is a single problem as an error.
func New(class Class, code, expression, text string) Problems {
	return Problems{{Code: code, Expression: expression, Text: text, Class: class}}
}

// AsProblems extracts Problems from err, if it holds any.
func AsProblems(err error) (Problems, bool) {
	var p Problems
	if errors.As(err, &p) && len(p) > 0 {
		return p, true
	}
	return nil, false
}

// OperationOutcome is the FHIR R4 resource every error answer carries.
type OperationOutcome struct {
	ResourceType string         `json:"resourceType"`
	Issue        []OutcomeIssue `json:"issue"`
}

// OutcomeIssue is one entry of an OperationOutcome.
type OutcomeIssue struct {
	Severity    string          `json:"severity"`
	Code        string          `json:"code"`
	Details     CodeableConcept `json:"details"`
	Diagnostics string          `json:"diagnostics,omitempty"`
	Expression  []string        `json:"expression,omitempty"`
}

// CodeableConcept is the FHIR datatype of the same name (the subset the service emits and reads).
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Coding is the FHIR datatype of the same name.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// OutcomeCodeSystem names the code system of the service's stable problem codes.
const OutcomeCodeSystem = "https://dcc.se/fhir/CodeSystem/problem"

// Outcome renders problems as one OperationOutcome.
func (p Problems) Outcome() OperationOutcome {
	oo := OperationOutcome{ResourceType: "OperationOutcome", Issue: make([]OutcomeIssue, 0, len(p))}
	for _, pr := range p {
		it := pr.IssueType
		if it == "" {
			it = issueType(pr.Class)
		}
		sev := "error"
		if pr.Class == ClassInternal {
			sev = "fatal"
		}
		iss := OutcomeIssue{
			Severity: sev,
			Code:     it,
			Details: CodeableConcept{
				Coding: []Coding{{System: OutcomeCodeSystem, Code: pr.Code}},
				Text:   pr.Text,
			},
		}
		if pr.Expression != "" {
			iss.Expression = []string{pr.Expression}
		}
		oo.Issue = append(oo.Issue, iss)
	}
	return oo
}

func issueType(c Class) string {
	switch c {
	case ClassMalformed:
		return "structure"
	case ClassInvalid:
		return "invalid"
	case ClassConflict:
		return "conflict"
	case ClassTooLarge:
		return "too-long"
	case ClassUnauthenticated:
		return "login"
	case ClassForbidden:
		return "forbidden"
	case ClassNotFound:
		return "not-found"
	case ClassMethodNotAllowed:
		return "not-supported"
	case ClassRateLimited:
		return "throttled"
	case ClassUnavailable:
		return "transient"
	}
	return "exception"
}
