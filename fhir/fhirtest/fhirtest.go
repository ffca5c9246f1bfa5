// Package fhirtest builds valid provider requests (FHIR R4 Observation and Immunization JSON) for
// tests in any package, at the time a test's clock says, with options to change any part.
//
//	body := fhirtest.Observation(fhirtest.RAT, fhirtest.Now(clock), fhirtest.PNR("199001012385"))
//	body := fhirtest.Immunization(fhirtest.Comirnaty, fhirtest.Now(clock), fhirtest.Dose(3, 3))
//	body := fhirtest.Observation(fhirtest.NAAT, fhirtest.AtRaw("2022-02-14T09:00:00")) // no zone
//
// Without options a body is valid against the fhir package's default rules at the current time.
// The committed fixtures under fhir/testdata/ are these bodies at FixtureNow (Fixtures lists
// them; the fhir package's tests keep them in step).
//
// Layout of the bodies, for Set and Remove paths (relative to the resource, without its type):
// contained holds the Patient (id "1") first, then the Organization (id "2") when there is one,
// then the Device (id "3") when there is one. NoPNR has no Organization, so its Device is
// contained[1]. Options that change a contained resource find it by type, wherever it is.
//
// Builders panic on an unknown kind or a malformed path: those are mistakes in the calling test.
package fhirtest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/sedcc/dcc/registry/pnr"
)

// Observation kinds.
const (
	NAAT     = "naat"     // negative NAAT (PCR) test; personnummer; performer; NAAT test name
	RAT      = "rat"      // negative rapid antigen test; personnummer; performer; EU device 1232
	NoPNR    = "no-pnr"   // negative rapid antigen test of a person without personnummer: name and birth date; no performer
	Recovery = "recovery" // positive NAAT test sampled 30 days ago; personnummer; performer
)

// Vaccine products for Immunization, by EU product code.
const (
	Comirnaty = "EU/1/20/1528"
	Spikevax  = "EU/1/20/1507"
	Vaxzevria = "EU/1/21/1529"
	Jcovden   = "EU/1/20/1525"
	Nuvaxovid = "EU/1/21/1618"
)

// Values the bodies carry unless an option changes them.
const (
	// DefaultPNR is the personnummer of the bodies: 191212121212, the tax agency's example number
	// (Tolvan Tolvansson), which is no real person's.
	DefaultPNR = "191212121212"
	// DefaultDevice is the RAT device id: Abbott Panbio COVID-19 Ag Rapid Test, active in the EU list.
	DefaultDevice = "1232"
	// NotDetected and Detected are the SNOMED CT test results.
	NotDetected = "260415000"
	Detected    = "260373001"
	// TestTypeNAAT and TestTypeRAT are the LOINC test types.
	TestTypeNAAT = "LP6464-4"
	TestTypeRAT  = "LP217198-3"
)

// FixtureNow is the clock of the committed fixtures under fhir/testdata/.
var FixtureNow = time.Date(2022, 2, 14, 13, 45, 0, 0, time.FixedZone("CET", 3600))

// Systems used in the bodies.
const (
	systemLOINC     = "http://loinc.org"
	systemSNOMED    = "http://snomed.info/sct"
	systemPNR       = "http://electronichealth.se/identifier/personnummer"
	systemSNR       = "http://electronichealth.se/identifier/samordningsnummer"
	systemRAT       = "https://covid-19-diagnostics.jrc.ec.europa.eu/devices/hsc-common-recognition-rat"
	systemProduct   = "https://ec.europa.eu/health/documents/community-register/html/"
	systemSPOR      = "https://spor.ema.europa.eu/v1/organisations"
	systemActReason = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
)

// Option changes a body being built.
type Option func(*builder)

type builder struct {
	resource string // Observation or Immunization
	now      time.Time
	age      time.Duration // of the effective or occurrence time, before now
	at       *time.Time
	atRaw    *string
	edits    []func(*object)
}

func (b *builder) edit(f func(*object)) { b.edits = append(b.edits, f) }

// Observation builds a valid Observation of the given kind (NAAT, RAT, NoPNR, Recovery).
func Observation(kind string, opts ...Option) []byte {
	b := &builder{resource: "Observation", now: time.Now()}
	var doc *object
	switch kind {
	case NAAT:
		b.age = 20 * time.Hour
		doc = observation("LAB-2022-0214-00173", TestTypeNAAT, NotDetected,
			[]any{patientPNR(systemPNR, DefaultPNR), organization("Provtagningen Stockholm City"), naatDevice("Roche, cobas SARS-CoV-2 Test")},
			true)
	case RAT:
		b.age = 35 * time.Minute
		doc = observation("7f2c9a64-1b7e-4f3a-9c55-2e8d0b6a4f19", TestTypeRAT, NotDetected,
			[]any{patientPNR(systemPNR, DefaultPNR), organization("Snabbtest Arlanda Terminal 5"), ratDevice(DefaultDevice)},
			true)
	case NoPNR:
		b.age = 50 * time.Minute
		doc = observation("ARL5-000982", TestTypeRAT, NotDetected,
			[]any{patientName("Ødegård", []string{"Åse", "Marie"}, "1974-07-17"), ratDevice(DefaultDevice)},
			false)
	case Recovery:
		b.age = 30 * 24 * time.Hour
		doc = observation("LAB-2022-0115-00412", TestTypeNAAT, Detected,
			[]any{patientPNR(systemPNR, DefaultPNR), organization("Klinisk mikrobiologi, Labbet Syd")},
			true)
	default:
		panic(fmt.Sprintf("fhirtest: unknown observation kind %q", kind))
	}
	return b.build(doc, "effectiveDateTime", opts)
}

// Immunization builds a valid Immunization of the given product (Comirnaty, Spikevax, Vaxzevria,
// Jcovden, Nuvaxovid), given 40 minutes before now.
func Immunization(product string, opts ...Option) []byte {
	b := &builder{resource: "Immunization", now: time.Now(), age: 40 * time.Minute}
	var doc *object
	switch product {
	case Comirnaty:
		doc = immunization("VACC-GBG-2022-118734", product, "Comirnaty", "1119349007", "SARS-CoV-2 mRNA vaccine", "ORG-100030215", 2, 2)
	case Spikevax:
		// No vaccine-type coding and a booster dose: vp is derived from the product.
		doc = immunization("VACC-GBG-2022-118735", product, "Spikevax", "", "", "ORG-100031184", 3, 3)
	case Vaxzevria:
		doc = immunization("VACC-MMO-2022-004410", product, "Vaxzevria", "29061000087103", "COVID-19 non-replicating viral vector vaccine", "ORG-100001699", 1, 2)
	case Jcovden:
		doc = immunization("VACC-UME-2022-000517", product, "Jcovden", "29061000087103", "COVID-19 non-replicating viral vector vaccine", "ORG-100001417", 1, 1)
	case Nuvaxovid:
		// No manufacturer: ma is derived from the product.
		doc = immunization("VACC-LKP-2022-002208", product, "Nuvaxovid", "1162643001", "SARS-CoV-2 recombinant spike protein antigen vaccine", "", 2, 2)
	default:
		panic(fmt.Sprintf("fhirtest: unknown vaccine product %q", product))
	}
	return b.build(doc, "occurrenceDateTime", opts)
}

func (b *builder) build(doc *object, timeKey string, opts []Option) []byte {
	for _, o := range opts {
		o(b)
	}
	switch {
	case b.atRaw != nil:
		doc.set(timeKey, *b.atRaw)
	case b.at != nil:
		doc.set(timeKey, b.at.Format(time.RFC3339))
	default:
		doc.set(timeKey, b.now.Add(-b.age).Truncate(time.Second).Format(time.RFC3339))
	}
	for _, e := range b.edits {
		e(doc)
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("fhirtest: " + err.Error())
	}
	return append(out, '\n')
}

// Retime replaces effectiveDateTime or occurrenceDateTime in any body (a fixture file, say) with t,
// keeping everything else byte for byte.
func Retime(body []byte, t time.Time) []byte {
	return timeElement.ReplaceAll(body, []byte(`"${1}DateTime": "`+t.Format(time.RFC3339)+`"`))
}

var timeElement = regexp.MustCompile(`"(effective|occurrence)DateTime"\s*:\s*"[^"]*"`)

// MakePersonnummer returns a valid personnummer for a date of birth (YYYYMMDD) and a 3-digit
// serial number, with its check digit.
func MakePersonnummer(birth, serial string) string {
	s := birth + serial
	if len(s) != 11 {
		panic("fhirtest: MakePersonnummer wants YYYYMMDD and 3 digits")
	}
	return s + string(pnr.CheckDigit(s))
}

// MakeSamordningsnummer returns a valid samordningsnummer (day of birth plus 60) for a date of
// birth (YYYYMMDD) and a 3-digit serial number.
func MakeSamordningsnummer(birth, serial string) string {
	if len(birth) != 8 {
		panic("fhirtest: MakeSamordningsnummer wants YYYYMMDD and 3 digits")
	}
	day := int(birth[6]-'0')*10 + int(birth[7]-'0') + 60
	return MakePersonnummer(fmt.Sprintf("%s%02d", birth[:6], day), serial)
}

// --- the resources ---

func observation(id, testType, result string, contained []any, performer bool) *object {
	display := map[string]string{
		TestTypeNAAT: "Nucleic acid amplification with probe detection",
		TestTypeRAT:  "Rapid immunoassay",
		NotDetected:  "Not detected",
		Detected:     "Detected",
	}
	doc := obj(
		"resourceType", "Observation",
		"contained", contained,
		"identifier", []any{obj("value", id)},
		"status", "final",
		"code", obj("coding", []any{
			obj("system", systemLOINC, "code", testType, "display", display[testType]),
			obj("system", systemSNOMED, "code", "840539006", "display", "COVID-19"),
		}),
		"subject", obj("reference", "#1"),
		"effectiveDateTime", "",
	)
	if performer {
		doc.set("performer", []any{obj("reference", "#2")})
	}
	doc.set("valueCodeableConcept", obj("coding", []any{obj("system", systemSNOMED, "code", result, "display", display[result])}))
	for _, c := range contained {
		if c.(*object).get("resourceType") == "Device" {
			doc.set("device", obj("reference", "#3"))
		}
	}
	return doc
}

func immunization(id, product, name, vp, vpDisplay, ma string, dn, sd int) *object {
	codings := []any{obj("system", systemProduct, "code", product, "display", name)}
	if vp != "" {
		codings = append(codings, obj("system", systemSNOMED, "code", vp, "display", vpDisplay))
	}
	doc := obj(
		"resourceType", "Immunization",
		"contained", []any{patientPNR(systemPNR, DefaultPNR), organization("Vaccinationscentralen Nordstan")},
		"identifier", []any{obj("value", id)},
		"status", "completed",
		"vaccineCode", obj("coding", codings),
		"patient", obj("reference", "#1"),
		"occurrenceDateTime", "",
	)
	if ma != "" {
		doc.set("manufacturer", obj("identifier", obj("system", systemSPOR, "value", ma)))
	}
	doc.set("performer", []any{obj("actor", obj("reference", "#2"))})
	doc.set("protocolApplied", []any{obj(
		"targetDisease", []any{obj("coding", []any{obj("system", systemSNOMED, "code", "840539006", "display", "COVID-19")})},
		"doseNumberPositiveInt", dn,
		"seriesDosesPositiveInt", sd,
	)})
	return doc
}

func patientPNR(system, value string) *object {
	return obj("resourceType", "Patient", "id", "1", "identifier", []any{obj("system", system, "value", value)})
}

func patientName(family string, given []string, birthDate string) *object {
	g := make([]any, len(given))
	for i, x := range given {
		g[i] = x
	}
	return obj("resourceType", "Patient", "id", "1", "name", []any{obj("family", family, "given", g)}, "birthDate", birthDate)
}

func organization(name string) *object {
	return obj("resourceType", "Organization", "id", "2", "name", name)
}

func ratDevice(id string) *object {
	return obj("resourceType", "Device", "id", "3", "identifier", []any{obj("system", systemRAT, "value", id)})
}

func naatDevice(name string) *object {
	return obj("resourceType", "Device", "id", "3", "deviceName", []any{obj("name", name, "type", "manufacturer-name")})
}
