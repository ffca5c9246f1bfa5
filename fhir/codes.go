package fhir

import "sort"

// Stable problem codes about request content. Clients branch on these strings, so they never
// change meaning; docs/errors.md describes each one, and a test keeps that table and this list in
// step. The codes the service itself emits (request-id-reused, person-not-found, ...) live with
// the issuer.
const (
	// The body as a whole.
	CodeBodyTooLarge           = "body-too-large"           // larger than MaxBodyBytes (413)
	CodeMalformedJSON          = "json-malformed"           // not JSON at all (400)
	CodeJSONType               = "json-type"                // an element of the wrong JSON type (400)
	CodeResourceTypeUnexpected = "resource-type-unexpected" // not the resource this path takes (400)
	CodeBodyEncoding           = "body-encoding"            // not UTF-8, or a byte-order mark (400)
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

// codeInfo is what every code carries besides its text: the class that decides the answer and the
// FHIR issue type (http://hl7.org/fhir/issue-type) that OperationOutcome.issue.code shows.
type codeInfo struct {
	class Class
	issue string
}

// codeTable is a read-only table; report.add takes class and issue type from it, so a code always
// answers the same way wherever it is raised.
var codeTable = map[string]codeInfo{
	CodeBodyTooLarge:           {ClassTooLarge, "too-long"},
	CodeMalformedJSON:          {ClassMalformed, "structure"},
	CodeJSONType:               {ClassMalformed, "structure"},
	CodeResourceTypeUnexpected: {ClassMalformed, "not-supported"},
	CodeBodyEncoding:           {ClassMalformed, "structure"},
	CodeJSONMemberDuplicate:    {ClassMalformed, "structure"},
	CodeJSONMemberCase:         {ClassMalformed, "structure"},

	CodeRequired:             {ClassInvalid, "required"},
	CodeReferenceDangling:    {ClassInvalid, "structure"},
	CodeReferenceType:        {ClassInvalid, "structure"},
	CodeContainedIDDuplicate: {ClassInvalid, "structure"},

	CodeIdentifierFormat: {ClassInvalid, "value"},
	CodeStatusInvalid:    {ClassInvalid, "value"},
	CodeValueSetUnknown:  {ClassInvalid, "code-invalid"},
	CodeValueSetInactive: {ClassInvalid, "code-invalid"},
	CodeCodingAmbiguous:  {ClassInvalid, "value"},
	CodeTextTooLong:      {ClassInvalid, "too-long"},
	CodeTextInvalid:      {ClassInvalid, "value"},

	CodePatientIdentifierMultiple: {ClassInvalid, "structure"},
	CodeIdentifierSystemUnknown:   {ClassInvalid, "code-invalid"},
	CodePersonnummerFormat:        {ClassInvalid, "value"},
	CodePersonnummerDate:          {ClassInvalid, "value"},
	CodePersonnummerChecksum:      {ClassInvalid, "value"},
	CodePersonnummerFuture:        {ClassInvalid, "value"},
	CodeNameMissing:               {ClassInvalid, "required"},
	CodeBirthDateFormat:           {ClassInvalid, "value"},
	CodeBirthDateFuture:           {ClassInvalid, "value"},

	CodeDateTimeInvalid:   {ClassInvalid, "value"},
	CodeTimezoneMissing:   {ClassInvalid, "value"},
	CodeDateTimeFuture:    {ClassInvalid, "business-rule"},
	CodeTestTooOld:        {ClassInvalid, "business-rule"},
	CodeRecoveryTooRecent: {ClassInvalid, "business-rule"},
	CodeRecoveryTooOld:    {ClassInvalid, "business-rule"},

	CodeTestResultNotAllowed: {ClassInvalid, "business-rule"},
	CodeRecoveryNotNAAT:      {ClassInvalid, "business-rule"},
	CodeRATDeviceMissing:     {ClassInvalid, "required"},
	CodeRATDeviceUnknown:     {ClassInvalid, "code-invalid"},
	CodePerformerNameMissing: {ClassInvalid, "required"},

	CodeProphylaxisMismatch:       {ClassInvalid, "business-rule"},
	CodeManufacturerMismatch:      {ClassInvalid, "business-rule"},
	CodeDoseOutOfRange:            {ClassInvalid, "value"},
	CodeVaccinationBeforeApproval: {ClassInvalid, "business-rule"},
}

// report collects problems in the order they are found.
type report struct {
	problems Problems
}

// add records one problem; class and issue type come from codeTable.
func (r *report) add(code, expression, text string) {
	info, ok := codeTable[code]
	if !ok {
		// A code missing from the table is a defect in this package; answer it as invalid input
		// rather than hide the finding.
		info = codeInfo{ClassInvalid, "invalid"}
	}
	r.problems = append(r.problems, Problem{
		Code:       code,
		Expression: expression,
		Text:       text,
		Class:      info.class,
		IssueType:  info.issue,
	})
}

// err is nil when nothing was found, else the Problems.
func (r *report) err() error {
	if len(r.problems) == 0 {
		return nil
	}
	return r.problems
}

// CodeInfo describes one problem code this package emits.
type CodeInfo struct {
	Code      string
	Class     Class
	IssueType string // FHIR issue type shown in OperationOutcome.issue.code
}

// Codes lists every problem code this package emits, sorted by code, for documentation and for
// clients of the package that map or check codes.
func Codes() []CodeInfo {
	out := make([]CodeInfo, 0, len(codeTable))
	for c, info := range codeTable {
		out = append(out, CodeInfo{Code: c, Class: info.class, IssueType: info.issue})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}
