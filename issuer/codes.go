package issuer

import (
	"net/http"

	"github.com/sedcc/dcc/fhir"
)

// Problem codes the service itself emits (the fhir package owns the codes about request content).
// docs/errors.md lists them all.
const (
	CodeRequestIDReused       = "request-id-reused"
	CodeRequestIDInvalid      = "request-id-invalid"
	CodeIdentifierConflict    = "identifier-conflict"
	CodePersonNotFound        = "person-not-found"
	CodePersonDeceased        = "person-deceased"
	CodePersonnummerRejected  = "personnummer-rejected"
	CodeRegisterUnavailable   = "register-unavailable"
	CodeBirthDateMismatch     = "birthdate-mismatch"
	CodeTestDataInProduction  = "test-data-in-production"
	CodeOverloaded            = "overloaded"
	CodeRateLimited           = "rate-limited"
	CodeStoreUnavailable      = "store-unavailable"
	CodeSigningUnavailable    = "signing-unavailable"
	CodeUnauthenticated       = "unauthenticated"
	CodeForbidden             = "forbidden"
	CodeKindNotGranted        = "kind-not-granted"
	CodeNotFound              = "not-found"
	CodeMethodNotAllowed      = "method-not-allowed"
	CodeInternal              = "internal-error"
	CodeBadRequest            = "bad-request"
	CodeNameNotTransliterable = "name-not-transliterable"
	CodeCertificateIncomplete = "certificate-invalid"
)

// StatusOf is the HTTP status that answers a class of problem. The audit log records it, and the
// HTTP layer answers with it.
func StatusOf(c fhir.Class) int {
	switch c {
	case fhir.ClassMalformed:
		return http.StatusBadRequest
	case fhir.ClassInvalid:
		return http.StatusUnprocessableEntity
	case fhir.ClassConflict:
		return http.StatusConflict
	case fhir.ClassTooLarge:
		return http.StatusRequestEntityTooLarge
	case fhir.ClassUnauthenticated:
		return http.StatusUnauthorized
	case fhir.ClassForbidden:
		return http.StatusForbidden
	case fhir.ClassNotFound:
		return http.StatusNotFound
	case fhir.ClassMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case fhir.ClassRateLimited:
		return http.StatusTooManyRequests
	case fhir.ClassUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
