package fhir

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/signing/valueset"
)

// TestResult is a test (or, from Recovery, the positive test behind a recovery certificate) as
// the provider reported it, validated.
type TestResult struct {
	// Identifier is the provider's unique id for this result (Observation.identifier[0].value),
	// the basis of the UVCI.
	Identifier string
	Subject    Subject
	// TestType is the LOINC code: TestTypeNAAT or TestTypeRAT (DCC t.tt).
	TestType string
	// Disease is the SNOMED CT code of the disease (DCC tg): DiseaseCOVID19.
	Disease string
	// Result is ResultNotDetected from Test, ResultDetected from Recovery (DCC t.tr).
	Result string
	// SampledAt is the time of sample collection, in the offset the provider sent (DCC t.sc).
	SampledAt time.Time
	// Facility is the testing centre (the performer Organization's name; DCC t.tc); always present
	// for NAAT, may be empty for RAT.
	Facility string
	// DeviceID is the RAT device's id in the EU common list (DCC t.ma); empty for NAAT.
	DeviceID string
	// DeviceName is a NAAT test's name (Device.deviceName of type manufacturer-name; DCC t.nm);
	// empty when not sent, and for RAT.
	DeviceName string
	// TestData is set when the resource is marked as test data (meta.tag or meta.security
	// HTEST); what that means is the issuer's decision.
	TestData bool
	// TestDataPath is the FHIRPath of the HTEST mark, when TestData.
	TestDataPath string
}

// Test reads the body of a test-certificate request: an Observation of a negative NAAT or RAT
// test. On failure the error is Problems holding every finding, and the result holds what could be
// read (the test-data mark, a valid identity number) or nothing when the body could not be decoded.
func (p *Parser) Test(body []byte) (TestResult, error) {
	return p.observation(body, false)
}

// Recovery reads the body of a recovery-certificate request: an Observation of a positive NAAT
// test sampled within the issuance policy's recovery window (11 to 180 calendar days ago).
func (p *Parser) Recovery(body []byte) (TestResult, error) {
	return p.observation(body, true)
}

func (p *Parser) observation(body []byte, recovery bool) (TestResult, error) {
	var r report
	var obs observation
	doc, ok := decode(&r, body, resourceObservation, &obs,
		func() []jsontext.Value { return obs.Contained },
		resourcePatient, resourceOrganization, resourceDevice)
	if !ok {
		return TestResult{}, r.problems
	}
	now := p.now()
	res := TestResult{TestDataPath: doc.markedTest("Observation", obs.Meta)}
	res.TestData = res.TestDataPath != ""

	res.Identifier = p.providerIdentifier(&r, resourceObservation, obs.Identifier)
	if obs.Status != statusFinal {
		statusProblem(&r, "Observation.status", obs.Status, statusFinal, "a final test result")
	}
	var testTypePath string
	res.TestType, testTypePath, res.Disease = p.testCode(&r, obs.Code)
	res.Subject = p.subject(&r, doc, obs.Subject.Reference, "Observation.subject.reference", now)
	sampled, sampledOK := dateTime(&r, "Observation.effectiveDateTime", obs.EffectiveDateTime,
		"effectiveDateTime (the time of sample collection)", "2021-07-21T10:28:00+02:00")
	res.SampledAt = sampled
	res.Result = p.testResult(&r, obs.ValueCodeableConcept, recovery)
	res.Facility = p.performer(&r, doc, obs.Performer, res.TestType)
	res.DeviceID, res.DeviceName = p.device(&r, doc, obs.Device.Reference, res.TestType)

	if recovery && res.TestType == TestTypeRAT {
		r.add(problem.CodeRecoveryNotNAAT, testTypePath, fmt.Sprintf(
			"A recovery certificate is issued on a positive NAAT (PCR) test only: send code %s (system %s). A positive rapid antigen test does not qualify.",
			TestTypeNAAT, SystemLOINC))
	}
	if sampledOK {
		p.sampleTime(&r, sampled, now, recovery)
	}
	if err := r.err(); err != nil {
		// What could be read goes back with the problems (the test-data mark, a valid identity
		// number), so that rules about the whole request are reported together with them.
		return res, err
	}
	return res, nil
}

// providerIdentifier reads identifier[0].value of the root resource.
func (p *Parser) providerIdentifier(r *report, root string, ids []identifier) string {
	path := root + ".identifier[0].value"
	if len(ids) == 0 || ids[0].Value == "" {
		r.add(problem.CodeRequired, path, fmt.Sprintf(
			"Send your unique identifier for this result in identifier[0].value: 1 to %d characters of A-Z a-z 0-9 and - . _ : /, e.g. a UUID.", IdentifierMaxLen))
		return ""
	}
	p.check(r, path, ids[0].Value, ruleProviderID)
	return ids[0].Value
}

func statusProblem(r *report, path, got, want, what string) {
	if got == "" {
		r.add(problem.CodeRequired, path, fmt.Sprintf("Send status %q: a certificate is issued for %s only.", want, what))
		return
	}
	r.add(problem.CodeStatusInvalid, path, fmt.Sprintf("Send status %q: a certificate is issued for %s only, and %s is not.", want, what, quote(got)))
}

// testCode reads Observation.code: the LOINC test type and the SNOMED CT disease.
func (p *Parser) testCode(r *report, cc codeableConcept) (testType, testTypePath, disease string) {
	const base = "Observation.code.coding"
	tt, ttPath := pick(r, base, cc.Coding, SystemLOINC)
	if tt == "" {
		r.add(problem.CodeRequired, base, fmt.Sprintf(
			"Add a coding with system %s and code %s (NAAT, e.g. PCR) or %s (rapid antigen test).", SystemLOINC, TestTypeNAAT, TestTypeRAT))
	} else if p.inValueSet(r, ttPath, valueset.TestType, tt, "test type") {
		testType = tt
	}
	disease = p.disease(r, base, cc.Coding)
	return testType, ttPath, disease
}

// disease reads the SNOMED CT coding of COVID-19 from codings at base.
func (p *Parser) disease(r *report, base string, codings []coding) string {
	d, dPath := pick(r, base, codings, SystemSNOMED)
	if d == "" {
		r.add(problem.CodeRequired, base, fmt.Sprintf("Add a coding with system %s and code %s (COVID-19).", SystemSNOMED, DiseaseCOVID19))
		return ""
	}
	if !p.inValueSet(r, dPath, valueset.DiseaseAgent, d, "disease") {
		return ""
	}
	return d
}

// testResult reads Observation.valueCodeableConcept. A test certificate takes "not detected", a
// recovery certificate "detected".
func (p *Parser) testResult(r *report, cc codeableConcept, recovery bool) string {
	const base = "Observation.valueCodeableConcept.coding"
	want, what := ResultNotDetected, "not detected"
	if recovery {
		want, what = ResultDetected, "detected"
	}
	code, path := pick(r, base, cc.Coding, SystemSNOMED)
	if code == "" {
		r.add(problem.CodeRequired, base, fmt.Sprintf("Add the test result as a coding with system %s and code %s (%s).", SystemSNOMED, want, what))
		return ""
	}
	if !p.inValueSet(r, path, valueset.TestResult, code, "test result") {
		return ""
	}
	if code != want {
		text := fmt.Sprintf("A test certificate is issued for a negative result only: send %s (not detected). A positive NAAT test "+
			"sampled %d to %d days ago qualifies for a recovery certificate instead.", ResultNotDetected, p.policy.RecoveryFrom, p.policy.RecoveryUntil)
		if recovery {
			text = fmt.Sprintf("A recovery certificate is issued on a positive test only: send %s (detected). A negative test qualifies "+
				"for a test certificate instead.", ResultDetected)
		}
		r.add(problem.CodeTestResultNotAllowed, path, text)
		return ""
	}
	return code
}

// performer reads the testing centre: the name of the first performer that is a contained
// Organization. NAAT requires it.
func (p *Parser) performer(r *report, doc *document, refs []reference, testType string) string {
	var org *entry
	for i, ref := range refs {
		path := fmt.Sprintf("Observation.performer[%d].reference", i)
		if ref.Reference == "" {
			r.add(problem.CodeRequired, path, "Reference the contained Organization that performed the test, e.g. \"#2\", or leave performer out.")
			continue
		}
		if e := doc.resolve(r, ref.Reference, path, resourceOrganization); e != nil && org == nil {
			org = e
		}
	}
	if org == nil {
		if testType == TestTypeNAAT {
			r.add(problem.CodePerformerNameMissing, "Observation.performer", "A NAAT test needs its testing centre: contain an Organization with "+
				"its name and reference it from Observation.performer, e.g. \"#2\".")
		}
		return ""
	}
	name := strings.TrimSpace(org.organization.Name)
	if name == "" {
		if testType == TestTypeNAAT {
			r.add(problem.CodePerformerNameMissing, "Organization.name", "Send the name of the testing centre in Organization.name; a NAAT test certificate names it.")
		}
		return ""
	}
	p.check(r, "Organization.name", name, ruleFreeText)
	return name
}

// device reads the test device: for RAT the EU device id (required), for NAAT the optional test
// name. Any id a NAAT device carries is not used (the Swedish FHIR guide says so).
func (p *Parser) device(r *report, doc *document, ref, testType string) (id, name string) {
	var dev *entry
	if ref != "" {
		dev = doc.resolve(r, ref, "Observation.device.reference", resourceDevice)
	}
	switch testType {
	case TestTypeRAT:
		return p.ratDevice(r, dev, ref), ""
	case TestTypeNAAT:
		if dev == nil {
			return "", ""
		}
		for i, dn := range dev.device.DeviceName {
			if dn.Type == DeviceNameManufacturer {
				name = strings.TrimSpace(dn.Name)
				p.check(r, fmt.Sprintf("Device.deviceName[%d].name", i), name, ruleFreeText)
				return "", name
			}
		}
	}
	return "", ""
}

func (p *Parser) ratDevice(r *report, dev *entry, ref string) string {
	missing := fmt.Sprintf("A rapid antigen test needs its device id from the EU common list: contain a Device with an identifier "+
		"of system %s and the device id as value (e.g. 1232), and reference it from Observation.device.", SystemRATDevice)
	if dev == nil {
		if ref == "" {
			r.add(problem.CodeRATDeviceMissing, "Observation.device", missing)
		}
		// A reference that resolves to nothing has been reported already.
		return ""
	}
	for i, id := range dev.device.Identifier {
		if id.System != SystemRATDevice && id.System != SystemRATDeviceShort {
			continue
		}
		path := fmt.Sprintf("Device.identifier[%d].value", i)
		v := strings.TrimSpace(id.Value)
		if v == "" {
			r.add(problem.CodeRATDeviceMissing, path, missing)
			return ""
		}
		found, active := p.values.Contains(valueset.TestManufacturer, v)
		switch {
		case !found:
			r.add(problem.CodeRATDeviceUnknown, path, fmt.Sprintf(
				"Device id %s is not in the EU common list of rapid antigen tests (value set %s). Send the id the list gives "+
					"your test, e.g. 1232; tests not on the list do not qualify for a certificate.", quote(v), valueset.TestManufacturer))
			return ""
		case !active:
			r.add(problem.CodeValueSetInactive, path, fmt.Sprintf(
				"Device id %s has been withdrawn from the EU common list of rapid antigen tests (value set %s); a test with it "+
					"no longer qualifies for a certificate.", quote(v), valueset.TestManufacturer))
			return ""
		}
		return v
	}
	r.add(problem.CodeRATDeviceMissing, "Device.identifier", missing)
	return ""
}

// sampleTime applies the time rules to the sample collection time.
func (p *Parser) sampleTime(r *report, sampled, now time.Time, recovery bool) {
	const path = "Observation.effectiveDateTime"
	if sampled.After(now.Add(p.clockSkew)) {
		r.add(problem.CodeDateTimeFuture, path, "The time of sample collection lies in the future. Send the time the sample was taken, with its zone "+
			"(e.g. +01:00 in winter, +02:00 in summer for Swedish time).")
		return
	}
	if !recovery {
		if now.Sub(sampled) > p.maxTestAge {
			r.add(problem.CodeTestTooOld, path, fmt.Sprintf(
				"The sample was taken more than %s ago; a test certificate is issued for samples at most %s old. Test again.",
				hours(p.maxTestAge), hours(p.maxTestAge)))
		}
		return
	}
	// The window is the issuance policy's: the same value writes the certificate's dates.
	if pr := p.policy.CheckRecovery(sampled, now, path); pr != nil {
		r.problems = append(r.problems, *pr)
	}
}

func hours(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return d.String()
}

// pick returns the code of the coding with the given system, and its path. A second coding of the
// same system with a different code makes the choice ambiguous: that is reported, and the first
// is returned.
func pick(r *report, base string, codings []coding, system string) (code, path string) {
	for i, c := range codings {
		if c.System != system {
			continue
		}
		cp := fmt.Sprintf("%s[%d].code", base, i)
		if path == "" {
			code, path = strings.TrimSpace(c.Code), cp
			continue
		}
		if strings.TrimSpace(c.Code) != code {
			r.add(problem.CodeCodingAmbiguous, cp, fmt.Sprintf(
				"Send one code of system %s here; %s and %s contradict each other.", system, quote(code), quote(c.Code)))
		}
	}
	return code, path
}

// inValueSet reports a code that is not in set, or that the set marks inactive.
func (p *Parser) inValueSet(r *report, path, set, code, what string) bool {
	found, active := p.values.Contains(set, code)
	switch {
	case !found:
		r.add(problem.CodeValueSetUnknown, path, fmt.Sprintf("The %s code %s is not in the EU value set %s. %s",
			what, quote(code), set, p.allowed(set)))
		return false
	case !active:
		r.add(problem.CodeValueSetInactive, path, fmt.Sprintf("The %s code %s is marked inactive in the EU value set %s and may no longer be used. %s",
			what, quote(code), set, p.allowed(set)))
		return false
	}
	return true
}

// allowed names the active codes of a small value set, or points to the set when it is large.
func (p *Parser) allowed(set string) string {
	s := p.values.Set(set)
	if s == nil {
		return ""
	}
	codes := s.Codes()
	var parts []string
	for _, c := range codes {
		if v, _ := s.Lookup(c); v.Active {
			parts = append(parts, fmt.Sprintf("%s (%s)", c, v.Display))
		}
	}
	if len(parts) == 0 || len(parts) > 10 {
		switch set {
		case valueset.VaccineProduct:
			return "Send the product's number in the EU register of medicinal products, e.g. EU/1/20/1528 for Comirnaty or EU/1/20/1507 for Spikevax."
		case valueset.VaccineManufacturer:
			return "Send the marketing authorisation holder's EMA organisation id, e.g. ORG-100030215 for BioNTech (Comirnaty)."
		}
		return "Send a code the value set lists as active."
	}
	return "Send one of: " + strings.Join(parts, ", ") + "."
}
