// Package problem is the service's one error type: a located problem with a stable code, the
// class that decides how it is answered, the FHIRPath of the element it is about and a sentence
// saying what to send instead. One table (table.go) gives every code its class, FHIR issue type,
// HTTP status and default text, so a code answers the same way wherever it is raised.
//
// The domain packages (fhir, issuer) produce problems; only the HTTP layer renders them. The
// package is a leaf: it imports nothing of the service, so both fhir and issuer can use it.
package problem

import (
	"errors"
	"strings"
	"time"
)

// Class says what kind of failure a problem is, without naming a transport. Each class has one
// HTTP status (Class.Status). The values are stored with remembered answers (request records),
// so they never change: new classes are added at the end.
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

// Problem is one located finding about a request. Build it with New or Make, which take class
// and issue type from the table; the fields are exported so that remembered answers can be
// stored and read back (their JSON names are part of the stored form and never change).
type Problem struct {
	Code       string        `json:"Code"`       // stable, e.g. "timezone-missing"
	Expression string        `json:"Expression"` // FHIRPath, e.g. "Observation.effectiveDateTime"; empty when not about an element
	Text       string        `json:"Text"`       // what to send instead
	Class      Class         `json:"Class"`
	IssueType  string        `json:"IssueType"`  // FHIR issue type (http://hl7.org/fhir/issue-type)
	RetryAfter time.Duration `json:"RetryAfter"` // when to try again (classes RateLimited and Unavailable)
}

// Make builds one problem for code: class and issue type from the table, and the table's default
// text when text is empty.
func Make(code, expression, text string) Problem {
	s := Lookup(code)
	if text == "" {
		text = s.Text
	}
	return Problem{Code: code, Expression: expression, Text: text, Class: s.Class, IssueType: s.IssueType}
}

// List is the one error type the domain returns for anything it can name. Several problems
// travel together; the most pressing class decides the answer.
type List []Problem

// New is one problem as an error (see Make).
func New(code, expression, text string) List {
	return List{Make(code, expression, text)}
}

// Internal is the answer to a failure the service cannot name for the caller: internal-error
// with its one text. Wrap the cause with it (fmt.Errorf("%w: %w", problem.Internal(), err)) so
// the HTTP layer logs the cause where it renders the answer.
func Internal() List { return New(CodeInternal, "", "") }

// WithRetryAfter sets the wait every problem of the list asks for.
func (l List) WithRetryAfter(d time.Duration) List {
	out := make(List, len(l))
	for i, p := range l {
		p.RetryAfter = d
		out[i] = p
	}
	return out
}

func (l List) Error() string {
	var b strings.Builder
	for i, pr := range l {
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

// Class returns the class that decides the answer: the most pressing class among the problems
// (an outage before a rate limit before authentication ... before invalid content).
func (l List) Class() Class {
	if len(l) == 0 {
		return ClassInternal
	}
	best := l[0].Class
	for _, pr := range l[1:] {
		if pr.Class.rank() > best.rank() {
			best = pr.Class
		}
	}
	return best
}

// Status is the HTTP status that answers the list.
func (l List) Status() int { return l.Class().Status() }

// RetryAfter is the longest wait any of the problems asks for.
func (l List) RetryAfter() time.Duration {
	var d time.Duration
	for _, pr := range l {
		d = max(d, pr.RetryAfter)
	}
	return d
}

// Codes lists the problems' codes in order.
func (l List) Codes() []string {
	out := make([]string, len(l))
	for i, pr := range l {
		out[i] = pr.Code
	}
	return out
}

// Has reports whether a problem with the given code is present.
func (l List) Has(code string) bool {
	for _, pr := range l {
		if pr.Code == code {
			return true
		}
	}
	return false
}

// As extracts the List from err, if it holds a non-empty one.
func As(err error) (List, bool) {
	var l List
	if errors.As(err, &l) && len(l) > 0 {
		return l, true
	}
	return nil, false
}

// Transient reports whether a class of answer may change on retry (rate limits, outages,
// internal faults), so it must not be remembered as the answer to a request.
func (c Class) Transient() bool {
	return c == ClassUnavailable || c == ClassRateLimited || c == ClassInternal
}

// Status is the HTTP status that answers the class.
func (c Class) Status() int {
	if i, ok := classTable[c]; ok {
		return i.status
	}
	return 500
}

// IssueType is the FHIR issue type of a problem of the class whose code has none of its own.
func (c Class) IssueType() string {
	if i, ok := classTable[c]; ok {
		return i.issue
	}
	return "exception"
}

func (c Class) rank() int { return classTable[c].rank }

func (c Class) String() string {
	if i, ok := classTable[c]; ok {
		return i.name
	}
	return "unknown"
}
