package problem

import "sort"

// Stable problem codes. Clients branch on these strings, so a code never changes meaning;
// docs/errors.md describes each one, and a test keeps that document, these constants and the
// table below in step.
//
// Codes about the request content (raised by the fhir package while it reads the body).
const (
	// The body as a whole.
	CodeBodyTooLarge           = "body-too-large"           // larger than the body limit (413)
	CodeMalformedJSON          = "json-malformed"           // not JSON at all (400)
	CodeJSONType               = "json-type"                // an element of the wrong JSON type (400)
	CodeResourceTypeUnexpected = "resource-type-unexpected" // not the resource this path takes (400)
	CodeBodyEncoding           = "body-encoding"            // not UTF-8, or a byte-order mark (400)
	CodeBodyTimeout            = "body-timeout"             // the body did not arrive in time (400)
	CodeJSONMemberDuplicate    = "json-member-duplicate"    // a member name twice in one object (400)
	CodeJSONMemberCase         = "json-member-case"         // a member name that matches only ignoring case (400)

	// Structure: elements and references.
	CodeRequired             = "required"               // a mandatory element is missing or empty
	CodeReferenceDangling    = "reference-dangling"     // a reference that names no contained resource
	CodeReferenceType        = "reference-type"         // a reference to a resource of the wrong type
	CodeContainedIDDuplicate = "contained-id-duplicate" // two contained resources share one id

	// Values of elements.
	CodeIdentifierFormat = "identifier-format" // the provider's identifier breaks the documented limits
	CodeStatusInvalid    = "status-invalid"    // status other than final / completed
	CodeValueSetUnknown  = "valueset-unknown"  // a code that is not in its EU value set
	CodeValueSetInactive = "valueset-inactive" // a code the EU value set marks inactive
	CodeCodingAmbiguous  = "coding-ambiguous"  // two different codes from one code system
	CodeTextTooLong      = "text-too-long"     // free text longer than the certificate holds
	CodeTextInvalid      = "text-invalid"      // free text with control characters

	// The person.
	CodePatientIdentifierMultiple = "patient-identifier-multiple" // more than one Patient.identifier
	CodeIdentifierSystemUnknown   = "identifier-system-unknown"   // neither personnummer nor samordningsnummer
	CodePersonnummerFormat        = "personnummer-format"         // not 12 digits YYYYMMDDNNNN
	CodePersonnummerDate          = "personnummer-date"           // the first 8 digits are no date of birth
	CodePersonnummerChecksum      = "personnummer-checksum"       // the check digit does not match
	CodePersonnummerFuture        = "personnummer-future"         // the date of birth is in the future
	CodeNameMissing               = "name-missing"                // neither family nor given name
	CodeBirthDateFormat           = "birthdate-format"            // not YYYY, YYYY-MM or YYYY-MM-DD
	CodeBirthDateFuture           = "birthdate-future"            // a birth date after today

	// Times.
	CodeDateTimeInvalid   = "datetime-invalid"    // not an RFC 3339 date-time
	CodeTimezoneMissing   = "timezone-missing"    // a date-time without Z or offset
	CodeDateTimeFuture    = "datetime-future"     // later than now plus the allowed clock skew
	CodeTestTooOld        = "test-too-old"        // the sample is older than the test certificate allows
	CodeRecoveryTooRecent = "recovery-too-recent" // fewer than 11 days since the positive sample
	CodeRecoveryTooOld    = "recovery-too-old"    // more than 180 days since the positive sample

	// Tests and recovery.
	CodeTestResultNotAllowed = "test-result-not-allowed" // detected on /observation, not detected on /recovery
	CodeRecoveryNotNAAT      = "recovery-not-naat"       // recovery from a test other than NAAT
	CodeRATDeviceMissing     = "rat-device-missing"      // RAT without an EU device id
	CodeRATDeviceUnknown     = "rat-device-unknown"      // RAT device id not in the EU list
	CodePerformerNameMissing = "performer-name-missing"  // NAAT without the testing centre's name

	// Vaccination.
	CodeProphylaxisMismatch       = "vaccine-prophylaxis-mismatch"     // vp does not fit the product
	CodeManufacturerMismatch      = "vaccine-manufacturer-mismatch"    // ma is not the product's holder
	CodeDoseOutOfRange            = "dose-out-of-range"                // dn or sd outside 1..9
	CodeVaccinationBeforeApproval = "vaccination-before-authorisation" // before the product's EU authorisation
)

// Codes the service itself raises (the issuer's rules, authentication, limits, outages).
const (
	CodeRequestIDReused      = "request-id-reused"
	CodeRequestIDInvalid     = "request-id-invalid"
	CodeIdentifierConflict   = "identifier-conflict"
	CodePersonNotFound       = "person-not-found"
	CodePersonDeceased       = "person-deceased"
	CodePersonnummerRejected = "personnummer-rejected"
	CodeRegisterUnavailable  = "register-unavailable"
	CodeBirthDateMismatch    = "birthdate-mismatch"
	CodeTestDataInProduction = "test-data-in-production"
	CodeOverloaded           = "overloaded"
	CodeRateLimited          = "rate-limited"
	CodeStoreUnavailable     = "store-unavailable"
	CodeSigningUnavailable   = "signing-unavailable"
	CodeUnauthenticated      = "unauthenticated"
	CodeForbidden            = "forbidden"
	CodeKindNotGranted       = "kind-not-granted"
	// CodeKindNotSignable: the environment's DSC carries DCC extended key usages that do not
	// name the kind, so the service may not sign it.
	CodeKindNotSignable = "kind-not-signable"
	// CodeRevocationReasonUnknown: a revocation's reason is not one of the documented codes.
	CodeRevocationReasonUnknown = "revocation-reason-unknown"
	// CodeHC1Missing: a verification request without an HC1 string.
	CodeHC1Missing            = "hc1-missing"
	CodeNotFound              = "not-found"
	CodeMethodNotAllowed      = "method-not-allowed"
	CodeInternal              = "internal-error"
	CodeBadRequest            = "bad-request"
	CodeNameNotTransliterable = "name-not-transliterable"
	// CodeCertificateInvalid: the certificate built from the request would break the DCC schema.
	CodeCertificateInvalid = "certificate-invalid"
	// CodeIdPUnavailable: the citizens' identity provider's keys cannot be had to check a token.
	CodeIdPUnavailable = "idp-unavailable"
	// CodeQueued: citizens arrive faster than they are admitted; the caller holds a place in the
	// virtual queue and comes back at its time.
	CodeQueued = "queued"

	// Searches of the audit log.
	CodeAuditFilterInvalid = "audit-filter-invalid" // a filter value the search cannot use
	CodeCursorInvalid      = "cursor-invalid"       // a cursor no page gave
	CodeReasonRequired     = "reason-required"      // a search by personnummer without a reason
)

// Origin says who raises a code: the reading of the request content (the fhir package) or the
// service's own rules and limits.
type Origin int

const (
	OriginContent Origin = iota
	OriginService
)

// Spec is one row of the table: everything a code carries besides where it is raised.
type Spec struct {
	Code      string
	Class     Class
	IssueType string // FHIR issue type shown in OperationOutcome.issue.code
	Status    int    // HTTP status, the status of Class
	Text      string // default text, used when the raiser has nothing more precise to say
	Origin    Origin
}

type classInfo struct {
	name   string
	status int
	issue  string // default FHIR issue type
	rank   int    // which class answers when several travel together: highest first
}

// classTable gives each class its HTTP status, default issue type and precedence. When problems
// of several classes travel together the answer reflects the one the caller must deal with first:
// an outage before a rate limit before authentication ... before a conflict before bad content.
var classTable = map[Class]classInfo{
	ClassMalformed:        {"malformed", 400, "structure", 40},
	ClassInvalid:          {"invalid", 422, "invalid", 20},
	ClassConflict:         {"conflict", 409, "conflict", 30},
	ClassTooLarge:         {"too-large", 413, "too-long", 50},
	ClassUnauthenticated:  {"unauthenticated", 401, "login", 70},
	ClassForbidden:        {"forbidden", 403, "forbidden", 60},
	ClassNotFound:         {"not-found", 404, "not-found", 35},
	ClassMethodNotAllowed: {"method-not-allowed", 405, "not-supported", 36},
	ClassRateLimited:      {"rate-limited", 429, "throttled", 80},
	ClassUnavailable:      {"unavailable", 503, "transient", 90},
	ClassInternal:         {"internal", 500, "exception", 100},
}

type codeInfo struct {
	class  Class
	issue  string // "" takes the class's
	text   string
	origin Origin
}

// internalText is the one answer to a failure the service cannot name.
const internalText = "The service could not complete the request. Retry later; if it persists, contact the service desk with the X-Request-ID."

// codeTable is the one table of codes. It is read-only.
var codeTable = map[string]codeInfo{
	CodeBodyTooLarge:           {ClassTooLarge, "too-long", "The request body is too large. Send one resource per request, without attachments.", OriginContent},
	CodeMalformedJSON:          {ClassMalformed, "structure", "Send one FHIR R4 resource as UTF-8 JSON.", OriginContent},
	CodeJSONType:               {ClassMalformed, "structure", "Send the element with the JSON type FHIR R4 defines for it.", OriginContent},
	CodeResourceTypeUnexpected: {ClassMalformed, "not-supported", "Send the resource type this path takes.", OriginContent},
	CodeBodyEncoding:           {ClassMalformed, "structure", "Send the body UTF-8 encoded, without a byte-order mark.", OriginContent},
	CodeBodyTimeout:            {ClassMalformed, "timeout", "Send the whole body at once.", OriginService},
	CodeJSONMemberDuplicate:    {ClassMalformed, "structure", "Send each member name once per object.", OriginContent},
	CodeJSONMemberCase:         {ClassMalformed, "structure", "Send member names exactly as FHIR R4 spells them; they are case-sensitive.", OriginContent},

	CodeRequired:             {ClassInvalid, "required", "Send the mandatory element.", OriginContent},
	CodeReferenceDangling:    {ClassInvalid, "structure", "Reference a contained resource by its id, as '#id'.", OriginContent},
	CodeReferenceType:        {ClassInvalid, "structure", "Reference a contained resource of the type the element takes.", OriginContent},
	CodeContainedIDDuplicate: {ClassInvalid, "structure", "Give each contained resource its own id.", OriginContent},

	CodeIdentifierFormat: {ClassInvalid, "value", "Send an identifier of 1 to 64 characters within the documented limits.", OriginContent},
	CodeStatusInvalid:    {ClassInvalid, "value", "Send status final (Observation) or completed (Immunization).", OriginContent},
	CodeValueSetUnknown:  {ClassInvalid, "code-invalid", "Send a code from the EU value set.", OriginContent},
	CodeValueSetInactive: {ClassInvalid, "code-invalid", "Send a code the EU value set marks active.", OriginContent},
	CodeCodingAmbiguous:  {ClassInvalid, "value", "Send one code per code system.", OriginContent},
	CodeTextTooLong:      {ClassInvalid, "too-long", "Send at most 80 characters.", OriginContent},
	CodeTextInvalid:      {ClassInvalid, "value", "Send printable text without control characters.", OriginContent},

	CodePatientIdentifierMultiple: {ClassInvalid, "structure", "Send exactly one identifier: the personnummer or the samordningsnummer.", OriginContent},
	CodeIdentifierSystemUnknown:   {ClassInvalid, "code-invalid", "Send the personnummer or samordningsnummer system.", OriginContent},
	CodePersonnummerFormat:        {ClassInvalid, "value", "Send the personnummer as 12 digits YYYYMMDDNNNN without hyphen.", OriginContent},
	CodePersonnummerDate:          {ClassInvalid, "value", "Send a number whose first 8 digits are the date of birth.", OriginContent},
	CodePersonnummerChecksum:      {ClassInvalid, "value", "Check the number: its check digit does not match.", OriginContent},
	CodePersonnummerFuture:        {ClassInvalid, "value", "Send the number with its four-digit year of birth.", OriginContent},
	CodeNameMissing:               {ClassInvalid, "required", "Send the identity number, or a name with family, given or both.", OriginContent},
	CodeBirthDateFormat:           {ClassInvalid, "value", "Send the birth date as YYYY-MM-DD, YYYY-MM or YYYY.", OriginContent},
	CodeBirthDateFuture:           {ClassInvalid, "value", "Send the date of birth.", OriginContent},

	CodeDateTimeInvalid:   {ClassInvalid, "value", "Send an RFC 3339 date-time with time zone.", OriginContent},
	CodeTimezoneMissing:   {ClassInvalid, "value", "Add the time zone: Z for UTC or the offset.", OriginContent},
	CodeDateTimeFuture:    {ClassInvalid, "business-rule", "Send the time the event happened; it lies in the future.", OriginContent},
	CodeTestTooOld:        {ClassInvalid, "business-rule", "The sample is too old for a test certificate; send a new test.", OriginContent},
	CodeRecoveryTooRecent: {ClassInvalid, "business-rule", "A recovery certificate is valid from 11 days after the positive sample; send it then.", OriginContent},
	CodeRecoveryTooOld:    {ClassInvalid, "business-rule", "The positive sample is too old for a recovery certificate.", OriginContent},

	CodeTestResultNotAllowed: {ClassInvalid, "business-rule", "Send not detected to /observation and detected to /recovery.", OriginContent},
	CodeRecoveryNotNAAT:      {ClassInvalid, "business-rule", "A recovery certificate needs a positive NAAT test.", OriginContent},
	CodeRATDeviceMissing:     {ClassInvalid, "required", "Send the EU device id of the rapid antigen test.", OriginContent},
	CodeRATDeviceUnknown:     {ClassInvalid, "code-invalid", "Send a device id from the EU common list of rapid antigen tests.", OriginContent},
	CodePerformerNameMissing: {ClassInvalid, "required", "Send the testing centre as a contained Organization with a name.", OriginContent},

	CodeProphylaxisMismatch:       {ClassInvalid, "business-rule", "Send the vaccine type that fits the product.", OriginContent},
	CodeManufacturerMismatch:      {ClassInvalid, "business-rule", "Send the product's marketing authorisation holder, or no manufacturer.", OriginContent},
	CodeDoseOutOfRange:            {ClassInvalid, "value", "Send dose numbers from 1 to 9.", OriginContent},
	CodeVaccinationBeforeApproval: {ClassInvalid, "business-rule", "Check the date of vaccination and the product: it is before the product's EU authorisation.", OriginContent},

	CodeRequestIDInvalid:        {ClassMalformed, "", "Send at most one X-Request-ID of 1 to 128 characters A-Z, a-z, 0-9, '.', '_', ':' or '-' (a UUID fits), or leave it out and the service generates one.", OriginService},
	CodeRequestIDReused:         {ClassConflict, "", "This X-Request-ID was already used for a different request. Send a new, unique X-Request-ID for every new request; reuse it only to retry the identical request.", OriginService},
	CodeIdentifierConflict:      {ClassConflict, "", "This Identifier was already used for a certificate with different content. Every new result needs its own unique Identifier; resend the original content to get the original certificate again.", OriginService},
	CodeKindNotGranted:          {ClassForbidden, "", "This credential may not issue this kind of certificate. Ask the service desk to grant the kind, or use the credential that has it.", OriginService},
	CodeKindNotSignable:         {ClassForbidden, "", "The service's signing certificate for this environment may not sign this kind of certificate. The service desk must install one whose extended key usages name it.", OriginService},
	CodeRevocationReasonUnknown: {ClassInvalid, "value", "Give the reason as one of issued-in-error, fraud, superseded, key-compromise.", OriginService},
	CodeHC1Missing:              {ClassInvalid, "required", "Send the certificate's HC1 string (starting HC1:) as hc1.", OriginService},
	CodeForbidden:               {ClassForbidden, "", "This credential may not call this route.", OriginService},
	CodeUnauthenticated:         {ClassUnauthenticated, "", "Send a valid credential as 'Authorization: Bearer <key>'.", OriginService},
	CodePersonNotFound:          {ClassInvalid, "", "The population register has no person with this personnummer. Check the number; for a person without a Swedish personnummer send name and birthDate instead of an identifier.", OriginService},
	CodePersonnummerRejected:    {ClassInvalid, "", "The population register does not accept this number. Check the personnummer or samordningsnummer; for a person without one send name and birthDate instead of an identifier.", OriginService},
	CodePersonDeceased:          {ClassInvalid, "", "The population register records this person as deceased; no certificate can be issued. Check the personnummer.", OriginService},
	CodeBirthDateMismatch:       {ClassInvalid, "", "The birthDate does not match the date of birth in the personnummer. Send the birth date the personnummer encodes (YYYY-MM-DD).", OriginService},
	CodeNameNotTransliterable:   {ClassInvalid, "", "The name contains characters that cannot be written in the machine-readable form (ICAO 9303). Check the spelling of the name.", OriginService},
	CodeRegisterUnavailable:     {ClassUnavailable, "", "The population register is unavailable. Retry after the time in Retry-After, or send the patient's name and birthDate with the personnummer so the certificate can be issued on the birth date.", OriginService},
	CodeTestDataInProduction:    {ClassInvalid, "", "This request carries test data and was sent with a production credential. Send test data with your sandbox credential.", OriginService},
	CodeCertificateInvalid:      {ClassInvalid, "", "The certificate built from this request would not be valid. Check the request's elements.", OriginService},
	CodeRateLimited:             {ClassRateLimited, "", "This credential sent more requests than its agreed rate. Wait for the time in Retry-After, then send again; spread requests evenly.", OriginService},
	CodeOverloaded:              {ClassUnavailable, "", "The service is handling as many requests as it can. Send the same request again after the time in Retry-After; it has not been processed.", OriginService},
	CodeStoreUnavailable:        {ClassUnavailable, "", "The service's store is temporarily unavailable. Retry the same request after the time in Retry-After; it is safe to retry.", OriginService},
	CodeSigningUnavailable:      {ClassUnavailable, "", "The service cannot sign certificates right now. Send the same request again after the time in Retry-After; it has not been processed.", OriginService},
	CodeNotFound:                {ClassNotFound, "", "There is no such resource. Check the path against /openapi.yaml.", OriginService},
	CodeMethodNotAllowed:        {ClassMethodNotAllowed, "", "This path does not accept that method (see the Allow header and /openapi.yaml).", OriginService},
	CodeBadRequest:              {ClassMalformed, "", "The request could not be read as HTTP. Check its headers.", OriginService},
	CodeInternal:                {ClassInternal, "", internalText, OriginService},
	CodeIdPUnavailable:          {ClassUnavailable, "", "The identity provider cannot be reached to check the token. Send the same request again after the time in Retry-After.", OriginService},
	CodeQueued:                  {ClassUnavailable, "", "Many people are signing in: you have a place in the queue. Come back after the time in Retry-After with the cookies of this answer; your place is kept.", OriginService},
	CodeAuditFilterInvalid:      {ClassInvalid, "value", "Send the search's filters as docs/audit-search.md describes them.", OriginService},
	CodeCursorInvalid:           {ClassMalformed, "value", "Send the cursor exactly as the previous page's next gave it, or leave it out for the first page.", OriginService},
	CodeReasonRequired:          {ClassInvalid, "required", "Say why you search this person (1 to 300 characters, e.g. the ticket number).", OriginService},
}

// Lookup returns the table's row for code. A code missing from the table is a defect of the
// service (a test keeps the table complete); it answers as an internal fault, which hides nothing.
func Lookup(code string) Spec {
	info, ok := codeTable[code]
	if !ok {
		info = codeInfo{class: ClassInternal, text: internalText, origin: OriginService}
	}
	return spec(code, info)
}

// Known reports whether code has a row in the table.
func Known(code string) bool {
	_, ok := codeTable[code]
	return ok
}

func spec(code string, info codeInfo) Spec {
	issue := info.issue
	if issue == "" {
		issue = info.class.IssueType()
	}
	return Spec{Code: code, Class: info.class, IssueType: issue, Status: info.class.Status(), Text: info.text, Origin: info.origin}
}

// Specs lists the table sorted by code, for documentation and for tests that check codes.
func Specs() []Spec {
	out := make([]Spec, 0, len(codeTable))
	for c, info := range codeTable {
		out = append(out, spec(c, info))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}
