package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sedcc/dcc/fhir"
	"github.com/sedcc/dcc/fhir/problem"
)

// fhirJSON is the media type of every FHIR body the service sends.
const fhirJSON = "application/fhir+json; charset=utf-8"

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
	// Extension carries what a problem says beyond its text (the place of a queued citizen).
	Extension []Extension `json:"extension,omitempty"`
}

// Extension is the FHIR datatype of the same name (the value types the service emits).
type Extension struct {
	URL          string `json:"url"`
	ValueString  string `json:"valueString,omitempty"`
	ValueInteger *int64 `json:"valueInteger,omitempty"`
	ValueInstant string `json:"valueInstant,omitempty"`
}

// CodeableConcept is the FHIR datatype of the same name (the subset the service emits).
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

// Outcome renders problems as one OperationOutcome, one issue per problem.
func Outcome(l problem.List) OperationOutcome {
	oo := OperationOutcome{ResourceType: "OperationOutcome", Issue: make([]OutcomeIssue, 0, len(l))}
	for _, pr := range l {
		it := pr.IssueType
		if it == "" {
			// Answers remembered by earlier releases may lack it; the table has it.
			it = problem.Lookup(pr.Code).IssueType
		}
		sev := "error"
		if pr.Class == problem.ClassInternal {
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

// writeProblems is the one place that turns problems into an HTTP answer: a FHIR
// OperationOutcome with one issue per problem, the status of the most pressing class,
// Retry-After for overload and outages, and WWW-Authenticate for a missing or bad credential.
func writeProblems(c echo.Context, p problem.List) error {
	return writeProblemsWith(c, p, nil)
}

// writeProblemsWith is writeProblems with extensions on every issue.
func writeProblemsWith(c echo.Context, p problem.List, ext []Extension) error {
	status := p.Status()
	h := c.Response().Header()
	if d := p.RetryAfter(); d > 0 || status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		secs := int((d + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		h.Set("Retry-After", strconv.Itoa(secs))
	}
	if p.Class() == problem.ClassUnauthenticated && h.Get(echo.HeaderWWWAuthenticate) == "" {
		h.Set(echo.HeaderWWWAuthenticate, bearerChallenge(c.Request()))
	}
	setProblemCodes(c, p.Codes())
	h.Set(echo.HeaderContentType, fhirJSON)
	c.Response().WriteHeader(status)
	oo := Outcome(p)
	for i := range oo.Issue {
		oo.Issue[i].Extension = ext
	}
	return encodeJSON(c.Response(), oo)
}

// errorHandler is echo's error handler: everything that goes wrong in a handler or middleware
// ends here and leaves as an OperationOutcome. It is also where a failure is logged, once: an
// answer of 500 or 503 that carries a cause (the error is more than the bare problems) logs that
// cause with the request id; the caller sees only the problems' texts.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p, ok := problem.As(err)
	if !ok {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			p = httpErrorProblems(he)
		} else {
			p = problem.Internal()
		}
	}
	s.logFailure(c, p, err)
	if err := writeProblems(c, p); err != nil {
		s.log.WarnContext(c.Request().Context(), "write error answer", "request_id", requestID(c), "err", err)
	}
}

// logFailure logs the cause of a 5xx answer. A bare refusal (overloaded, rate-limited) has no
// cause beyond itself and is left to the access log.
func (s *Server) logFailure(c echo.Context, p problem.List, err error) {
	status := p.Status()
	if status < 500 {
		return
	}
	if _, bare := err.(problem.List); bare {
		return
	}
	level := slog.LevelError
	if p.Class() == problem.ClassUnavailable {
		level = slog.LevelWarn
	}
	s.log.Log(c.Request().Context(), level, "request failed", "request_id", requestID(c),
		"status", status, "codes", p.Codes(), "err", err)
}

func httpErrorProblems(he *echo.HTTPError) problem.List {
	switch he.Code {
	case http.StatusNotFound:
		return problem.New(problem.CodeNotFound, "", "")
	case http.StatusMethodNotAllowed:
		return problem.New(problem.CodeMethodNotAllowed, "", "")
	case http.StatusRequestEntityTooLarge:
		return tooLarge(fhir.MaxBodyBytes)
	case http.StatusUnauthorized:
		return problem.New(problem.CodeUnauthenticated, "Authorization", "")
	}
	if he.Code >= 500 {
		return problem.Internal()
	}
	return problem.New(problem.CodeBadRequest, "", http.StatusText(he.Code)+".")
}

func tooLarge(limit int64) problem.List {
	return problem.New(problem.CodeBodyTooLarge, "", fmt.Sprintf(
		"The request body is larger than %d KiB. Send one resource per request, without attachments.", limit/1024))
}
