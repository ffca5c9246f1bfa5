package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/fhirtest"
)

// TestValidationRulesOverHTTP sends each kind of bad input and asserts status, code and FHIRPath.
// The fhir package's own tests cover the rules in depth; this proves every one reaches the
// integrator intact, as one OperationOutcome naming all problems.
func TestValidationRulesOverHTTP(t *testing.T) {
	e := newEnv(t, "embedded", envOptions{})
	now := fhirtest.Now(e.now)
	obs := func(kind string, opts ...fhirtest.Option) []byte {
		return fhirtest.Observation(kind, append([]fhirtest.Option{now}, opts...)...)
	}
	imm := func(product string, opts ...fhirtest.Option) []byte {
		return fhirtest.Immunization(product, append([]fhirtest.Option{now}, opts...)...)
	}
	const (
		obsPath = "/api/v1/observation"
		recPath = "/api/v1/recovery"
		immPath = "/api/v1/immunization"
		pnrPath = "Patient.identifier[0].value"
	)
	cases := []struct {
		name   string
		path   string
		body   []byte
		status int
		code   string
		expr   string
	}{
		{"personnummer with hyphen", obsPath, obs(fhirtest.RAT, fhirtest.PNR("19121212-1212")), 422, "personnummer-format", pnrPath},
		{"personnummer with 10 digits", obsPath, obs(fhirtest.RAT, fhirtest.PNR("1212121212")), 422, "personnummer-format", pnrPath},
		{"personnummer date", obsPath, obs(fhirtest.RAT, fhirtest.PNR(fhirtest.MakePersonnummer("19130230", "123"))), 422, "personnummer-date", pnrPath},
		{"personnummer checksum", obsPath, obs(fhirtest.RAT, fhirtest.PNR("191212121213")), 422, "personnummer-checksum", pnrPath},
		{"personnummer in the future", obsPath, obs(fhirtest.RAT, fhirtest.PNR(fhirtest.MakePersonnummer(e.now.AddDate(1, 0, 0).Format("20060102"), "123"))), 422, "personnummer-future", pnrPath},
		{"samordningsnummer day under personnummer", obsPath, obs(fhirtest.RAT, fhirtest.PNR(fhirtest.MakeSamordningsnummer("19121212", "121"))), 422, "personnummer-date", pnrPath},
		{"timezone missing", obsPath, obs(fhirtest.RAT, fhirtest.AtRaw(e.now.Add(-time.Hour).Format("2006-01-02T15:04:05"))), 422, "timezone-missing", "Observation.effectiveDateTime"},
		{"time not RFC 3339", obsPath, obs(fhirtest.RAT, fhirtest.AtRaw("yesterday")), 422, "datetime-invalid", "Observation.effectiveDateTime"},
		{"sample in the future", obsPath, obs(fhirtest.RAT, fhirtest.At(e.now.Add(time.Hour))), 422, "datetime-future", "Observation.effectiveDateTime"},
		{"test too old", obsPath, obs(fhirtest.RAT, fhirtest.At(e.now.Add(-73*time.Hour))), 422, "test-too-old", "Observation.effectiveDateTime"},
		{"recovery too recent", recPath, obs(fhirtest.Recovery, fhirtest.At(e.now.Add(-5*24*time.Hour))), 422, "recovery-too-recent", "Observation.effectiveDateTime"},
		{"recovery too old", recPath, obs(fhirtest.Recovery, fhirtest.At(e.now.Add(-200*24*time.Hour))), 422, "recovery-too-old", "Observation.effectiveDateTime"},
		{"recovery from RAT", recPath, obs(fhirtest.Recovery, fhirtest.TestType(fhirtest.TestTypeRAT), fhirtest.Device(fhirtest.DefaultDevice)), 422, "recovery-not-naat", "Observation.code.coding[0].code"},
		{"positive on /observation", obsPath, obs(fhirtest.RAT, fhirtest.Result(fhirtest.Detected)), 422, "test-result-not-allowed", "Observation.valueCodeableConcept.coding[0].code"},
		{"negative on /recovery", recPath, obs(fhirtest.Recovery, fhirtest.Result(fhirtest.NotDetected)), 422, "test-result-not-allowed", "Observation.valueCodeableConcept.coding[0].code"},
		{"unknown disease", obsPath, obs(fhirtest.RAT, fhirtest.Set("code.coding[1].code", "12345")), 422, "valueset-unknown", "Observation.code.coding[1].code"},
		{"unknown result", obsPath, obs(fhirtest.RAT, fhirtest.Result("12345")), 422, "valueset-unknown", "Observation.valueCodeableConcept.coding[0].code"},
		{"unknown test type", obsPath, obs(fhirtest.RAT, fhirtest.TestType("94309-2")), 422, "valueset-unknown", "Observation.code.coding[0].code"},
		{"RAT without device", obsPath, obs(fhirtest.RAT, fhirtest.WithoutDevice()), 422, "rat-device-missing", "Observation.device"},
		{"RAT device not in EU list", obsPath, obs(fhirtest.RAT, fhirtest.Device("999999")), 422, "rat-device-unknown", "Device.identifier[0].value"},
		{"NAAT without performer name", obsPath, obs(fhirtest.NAAT, fhirtest.WithoutPerformer()), 422, "performer-name-missing", "Observation.performer"},
		{"identifier missing", obsPath, obs(fhirtest.RAT, fhirtest.Remove("identifier")), 422, "required", "Observation.identifier[0].value"},
		{"identifier too long", obsPath, obs(fhirtest.RAT, fhirtest.Identifier(strings.Repeat("9", 81))), 422, "identifier-format", "Observation.identifier[0].value"},
		{"status not final", obsPath, obs(fhirtest.RAT, fhirtest.Status("preliminary")), 422, "status-invalid", "Observation.status"},
		{"unknown resource type", obsPath, []byte(`{"resourceType":"Patient","id":"1"}`), 400, "resource-type-unexpected", ""},
		{"dangling reference", obsPath, obs(fhirtest.RAT, fhirtest.Set("subject.reference", "#9")), 422, "reference-dangling", "Observation.subject.reference"},
		{"two patient identifiers", obsPath, obs(fhirtest.RAT, fhirtest.Set("contained[0].identifier[1]", map[string]any{
			"system": "http://electronichealth.se/identifier/personnummer", "value": "198503122387"})), 422, "patient-identifier-multiple", "Patient.identifier[1]"},
		{"identifier with other characters", obsPath, obs(fhirtest.RAT, fhirtest.Identifier("ab cd#ö")), 422, "identifier-format", "Observation.identifier[0].value"},
		{"unknown identity system", obsPath, obs(fhirtest.RAT, fhirtest.Set("contained[0].identifier[0].system", "urn:oid:1.2.752.129.2.1.3.1")), 422, "identifier-system-unknown", "Patient.identifier[0].system"},
		{"malformed JSON", obsPath, []byte(`{"resourceType":`), 400, "json-malformed", ""},
		{"vaccination status", immPath, imm(fhirtest.Comirnaty, fhirtest.Status("not-done")), 422, "status-invalid", "Immunization.status"},
		{"vaccination dose out of range", immPath, imm(fhirtest.Comirnaty, fhirtest.Dose(0, 2)), 422, "dose-out-of-range", "Immunization.protocolApplied[0].doseNumberPositiveInt"},
		{"vaccination series out of range", immPath, imm(fhirtest.Comirnaty, fhirtest.Dose(1, 10)), 422, "dose-out-of-range", "Immunization.protocolApplied[0].seriesDosesPositiveInt"},
		{"vaccination manufacturer mismatch", immPath, imm(fhirtest.Comirnaty, fhirtest.Manufacturer("ORG-100031184")), 422, "vaccine-manufacturer-mismatch", "Immunization.manufacturer.identifier.value"},
		{"vaccination unknown manufacturer", immPath, imm(fhirtest.Comirnaty, fhirtest.Manufacturer("ORG-999")), 422, "valueset-unknown", "Immunization.manufacturer.identifier.value"},
		{"vaccination prophylaxis mismatch", immPath, imm(fhirtest.Vaxzevria, fhirtest.Prophylaxis("1119349007")), 422, "vaccine-prophylaxis-mismatch", "Immunization.vaccineCode.coding[1].code"},
		{"vaccination unknown product", immPath, imm(fhirtest.Comirnaty, fhirtest.Set("vaccineCode.coding[0].code", "EU/1/99/9999")), 422, "valueset-unknown", "Immunization.vaccineCode.coding[0].code"},
		{"vaccination inactive product", immPath, imm(fhirtest.Comirnaty, fhirtest.Set("vaccineCode.coding[0].code", "NVX-CoV2373"), fhirtest.Manufacturer("")), 422, "valueset-inactive", "Immunization.vaccineCode.coding[0].code"},
		{"vaccination unknown disease", immPath, imm(fhirtest.Comirnaty, fhirtest.Set("protocolApplied[0].targetDisease[0].coding[0].code", "12345")), 422, "valueset-unknown", "Immunization.protocolApplied[0].targetDisease[0].coding[0].code"},
		{"vaccination in the future", immPath, imm(fhirtest.Comirnaty, fhirtest.At(e.now.Add(2*time.Hour))), 422, "datetime-future", "Immunization.occurrenceDateTime"},
		{"RAT device inactive", obsPath, obs(fhirtest.RAT, fhirtest.Device("1065")), 422, "valueset-inactive", "Device.identifier[0].value"},
		{"vaccination before authorisation", immPath, imm(fhirtest.Nuvaxovid, fhirtest.At(time.Date(2021, 6, 1, 10, 0, 0, 0, time.UTC))), 422, "vaccination-before-authorisation", "Immunization.occurrenceDateTime"},
		{"vaccination without zone", immPath, imm(fhirtest.Comirnaty, fhirtest.AtRaw("2026-01-01T10:00:00")), 422, "timezone-missing", "Immunization.occurrenceDateTime"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := e.post(tc.path, e.sandbox, tc.body)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			codes := a.codes(t)
			expr, ok := codes[tc.code]
			if !ok {
				t.Fatalf("no %s among %v", tc.code, codes)
			}
			if tc.expr != "" && expr != tc.expr {
				t.Fatalf("%s at %q, want %q", tc.code, expr, tc.expr)
			}
		})
	}

	// Every problem in one answer, not just the first.
	a := e.post(obsPath, e.sandbox, obs(fhirtest.RAT, fhirtest.PNR("191212121213"),
		fhirtest.AtRaw("2026-01-01T10:00:00"), fhirtest.Status("preliminary")))
	codes := a.codes(t)
	for _, want := range []string{"personnummer-checksum", "timezone-missing", "status-invalid"} {
		if _, ok := codes[want]; !ok {
			t.Errorf("combined problems: no %s in %v", want, codes)
		}
	}
	if a.status != http.StatusUnprocessableEntity {
		t.Errorf("combined problems: status %d", a.status)
	}
}
