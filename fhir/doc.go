// Package fhir reads the provider API's FHIR R4 JSON requests into domain values (TestResult,
// Vaccination) and reports what is wrong with them as located problems (a problem.List). It knows no
// HTTP, storage or signing.
//
// # Every problem at once
//
// Parsing does not stop at the first finding: one call reports every problem it can see, each
// with a stable code (codes.go, docs/errors.md), the FHIRPath of the element and a sentence that
// says what to send instead. It stops early only when the body cannot be read as the expected
// resource (too large, not JSON, an element of the wrong JSON type, another resourceType), since
// nothing after that would be meaningful.
//
// # FHIRPath convention
//
// Expressions are FHIRPath in the simple form FHIR's OperationOutcome uses: element names, "."
// and a [n] index on every repeating element, counted from 0 as in the request.
//
//   - Elements of the submitted resource start with its type:
//     Observation.effectiveDateTime, Observation.code.coding[1].code,
//     Immunization.protocolApplied[0].doseNumberPositiveInt.
//   - Elements of a contained resource start with that resource's type, not with its place in
//     contained: Patient.identifier[0].value, Patient.birthDate, Organization.name,
//     Device.identifier[0].value. A request holds at most one Patient, Organization and Device
//     that matter (the ones referenced), so the path is unambiguous, and it does not depend on
//     the order in which a client lists contained resources.
//   - Problems with the contained list itself (an unknown resourceType, a duplicate id) name the
//     entry: Observation.contained[2].resourceType.
//   - For a missing element the expression names where it belongs (Patient.birthDate,
//     Observation.identifier[0].value); when a whole coding is missing, the list it belongs in
//     (Observation.code.coding).
//   - Problems about the body as a whole (too large, not JSON) have no expression.
//
// # What is lenient and what is strict
//
// Elements the service does not use are ignored whatever their content (id, text, extension,
// meta.profile, identifier.use, coding.display, ...), so that requests with FHIR profile data
// parse. What is used is strict: codes must be in the EU value sets, local references ("#id")
// must resolve to a contained resource of the right type, times must carry a zone, and the
// person is named either by exactly one personnummer or samordningsnummer or by name and birth
// date.
//
// Problems with a samordningsnummer carry the same codes as those with a personnummer
// (personnummer-format, -date, -checksum, -future); the text names which of the two it is.
//
// Texts never repeat personal data from the request (identity numbers, names, birth dates); they
// may repeat codes and ids, quoted and cut to 40 characters.
package fhir
