// Package registerapi holds the HTTP contract of the population register service: the look-up
// path, the request and response bodies, and the checks a response must pass before the
// service believes it. docs/register-api.md describes the same contract for people.
//
// The client (registry/httpregister) and the stand-in server (registry/standin) both speak it,
// so the two cannot drift apart.
package registerapi

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"

	"github.com/sedcc/dcc/registry"
)

// LookupPath is the look-up endpoint, relative to the register's base URL. The number travels
// in the POST body, never in the URL, so access logs and proxies never see it.
const LookupPath = "/v1/lookup"

// MaxBodyBytes bounds every request and response body of the contract.
const MaxBodyBytes = 64 << 10

// Error codes carried in ErrorResponse.Error.
const (
	// CodeNotFound: the register holds no person with this number. Only a 404 carrying this
	// code means "not found"; a bare 404 (a wrong URL, a proxy) means the register is unusable.
	CodeNotFound = "not-found"
	// CodeBadRequest: the body is not a look-up request or the number is invalid.
	CodeBadRequest = "bad-request"
	// CodeUnauthorized: the bearer token is missing or wrong.
	CodeUnauthorized = "unauthorized"
	// CodeUnavailable: the register cannot answer now.
	CodeUnavailable = "unavailable"
)

// LookupRequest is the body of POST LookupPath.
type LookupRequest struct {
	// Personnummer is the 12-digit personnummer or samordningsnummer, YYYYMMDDNNNN.
	Personnummer string `json:"personnummer"`
}

// PersonResponse is the 200 body of a look-up.
type PersonResponse struct {
	GivenName  string `json:"givenName"`
	FamilyName string `json:"familyName"`
	BirthDate  string `json:"birthDate"`
	Protected  bool   `json:"protected"`
	Deceased   bool   `json:"deceased"`
}

// ErrorResponse is the body of every non-200 answer.
type ErrorResponse struct {
	Error string `json:"error"`
	// Detail is a short explanation free of personal data.
	Detail string `json:"detail,omitempty"`
}

// ErrMalformed is wrapped by DecodePerson and DecodeError for bodies that break the contract.
var ErrMalformed = errors.New("register response breaks the contract")

// FromPerson builds the response body for p.
func FromPerson(p registry.Person) PersonResponse {
	return PersonResponse{
		GivenName:  p.GivenName,
		FamilyName: p.FamilyName,
		BirthDate:  p.BirthDate,
		Protected:  p.Protected,
		Deceased:   p.Deceased,
	}
}

// DecodePerson reads a 200 body and checks it: one JSON object, at most MaxBodyBytes, a name
// (given or family) and a valid birthDate YYYY-MM-DD. Unknown fields are ignored so the
// register may add some. Errors wrap ErrMalformed and never quote the body.
func DecodePerson(r io.Reader) (registry.Person, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes+1))
	if err != nil {
		return registry.Person{}, fmt.Errorf("read person body: %w", err)
	}
	if len(data) > MaxBodyBytes {
		return registry.Person{}, fmt.Errorf("%w: body over %d bytes", ErrMalformed, MaxBodyBytes)
	}
	var body struct {
		GivenName  *string `json:"givenName"`
		FamilyName *string `json:"familyName"`
		BirthDate  *string `json:"birthDate"`
		Protected  *bool   `json:"protected"`
		Deceased   *bool   `json:"deceased"`
	}
	// Strict: exact member names, each once, UTF-8, nothing after the object; a register answer
	// such as {"deceased": false, "Deceased": true} is malformed, not read one way or the other.
	if err := json.Unmarshal(data, &body); err != nil {
		return registry.Person{}, fmt.Errorf("%w: not a JSON object: %w", ErrMalformed, err)
	}
	var p registry.Person
	if body.GivenName != nil {
		p.GivenName = *body.GivenName
	}
	if body.FamilyName != nil {
		p.FamilyName = *body.FamilyName
	}
	if strings.TrimSpace(p.GivenName) == "" && strings.TrimSpace(p.FamilyName) == "" {
		return registry.Person{}, fmt.Errorf("%w: neither givenName nor familyName", ErrMalformed)
	}
	if !utf8.ValidString(p.GivenName) || !utf8.ValidString(p.FamilyName) {
		return registry.Person{}, fmt.Errorf("%w: name is not valid UTF-8", ErrMalformed)
	}
	if body.BirthDate == nil {
		return registry.Person{}, fmt.Errorf("%w: no birthDate", ErrMalformed)
	}
	if _, err := time.Parse(time.DateOnly, *body.BirthDate); err != nil {
		return registry.Person{}, fmt.Errorf("%w: birthDate is not YYYY-MM-DD", ErrMalformed)
	}
	p.BirthDate = *body.BirthDate
	if body.Protected != nil {
		p.Protected = *body.Protected
	}
	if body.Deceased != nil {
		p.Deceased = *body.Deceased
	}
	return p, nil
}

// DecodeError reads a non-200 body. It returns the error code, or an error wrapping
// ErrMalformed when the body is not an ErrorResponse.
func DecodeError(r io.Reader) (string, error) {
	var body ErrorResponse
	data, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes))
	if err != nil {
		return "", fmt.Errorf("read error body: %w", err)
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return "", fmt.Errorf("%w: error body is not JSON: %w", ErrMalformed, err)
	}
	if body.Error == "" {
		return "", fmt.Errorf("%w: error body has no code", ErrMalformed)
	}
	return body.Error, nil
}
