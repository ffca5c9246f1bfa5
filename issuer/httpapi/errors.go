package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sedcc/dcc/fhir"
	"github.com/sedcc/dcc/issuer"
)

// fhirJSON is the media type of every FHIR body the service sends.
const fhirJSON = "application/fhir+json; charset=utf-8"

// writeProblems is the one place that turns problems into an HTTP answer: a FHIR
// OperationOutcome with one issue per problem, the status of the most pressing class, and
// Retry-After for overload and outages.
func writeProblems(c echo.Context, p fhir.Problems) error {
	status := issuer.StatusOf(p.Class())
	if d := p.RetryAfter(); d > 0 || status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		secs := int((d + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	}
	setProblemCodes(c, p.Codes())
	c.Response().Header().Set(echo.HeaderContentType, fhirJSON)
	c.Response().WriteHeader(status)
	return encodeJSON(c.Response(), p.Outcome())
}

// errorHandler is echo's error handler: everything that goes wrong in a handler or middleware
// ends here and leaves as an OperationOutcome. Internal detail goes to the log only.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p, ok := fhir.AsProblems(err)
	if !ok {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			p = httpErrorProblems(he)
		} else {
			s.log.ErrorContext(c.Request().Context(), "unhandled error", "request_id", requestID(c), "err", err)
			p = fhir.Problems{{Code: issuer.CodeInternal, Class: fhir.ClassInternal,
				Text: "The service could not complete the request. Retry later; if it persists, contact the service desk with the X-Request-ID."}}
		}
	} else if p.Class() == fhir.ClassInternal {
		s.log.ErrorContext(c.Request().Context(), "request failed", "request_id", requestID(c), "err", err)
	}
	if err := writeProblems(c, p); err != nil {
		s.log.WarnContext(c.Request().Context(), "write error answer", "request_id", requestID(c), "err", err)
	}
}

func httpErrorProblems(he *echo.HTTPError) fhir.Problems {
	switch he.Code {
	case http.StatusNotFound:
		return fhir.New(fhir.ClassNotFound, issuer.CodeNotFound, "", "There is no such resource. Check the path against /openapi.yaml.")
	case http.StatusMethodNotAllowed:
		return fhir.New(fhir.ClassMethodNotAllowed, issuer.CodeMethodNotAllowed, "", "This path does not accept that method (see the Allow header and /openapi.yaml).")
	case http.StatusRequestEntityTooLarge:
		return tooLarge(fhir.MaxBodyBytes)
	case http.StatusUnauthorized:
		return fhir.Problems{{Code: issuer.CodeUnauthenticated, Class: fhir.ClassUnauthenticated, Expression: "Authorization",
			Text: "Send a valid credential as 'Authorization: Bearer <key>'."}}
	}
	if he.Code >= 500 {
		return fhir.Problems{{Code: issuer.CodeInternal, Class: fhir.ClassInternal,
			Text: "The service could not complete the request. Retry later; if it persists, contact the service desk with the X-Request-ID."}}
	}
	return fhir.New(fhir.ClassMalformed, issuer.CodeBadRequest, "", http.StatusText(he.Code))
}

func tooLarge(limit int64) fhir.Problems {
	return fhir.New(fhir.ClassTooLarge, fhir.CodeBodyTooLarge, "",
		"The request body is larger than "+strconv.FormatInt(limit/1024, 10)+" KiB. Send one resource per request, without attachments.")
}
