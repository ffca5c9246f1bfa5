package fhir

import (
	"fmt"

	"github.com/go-json-experiment/json/jsontext"
)

// The FHIR R4 JSON subset the provider API reads. Elements the service does not use (id, text,
// extension, meta.profile, ...) are ignored, whatever their shape, so that the requests existing
// clients send with FHIR profile data still parse. These types never leave the package: parsing
// turns them into TestResult and Vaccination.

type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type codeableConcept struct {
	Coding []coding `json:"coding"`
}

type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type reference struct {
	Reference string `json:"reference"`
}

// logicalReference is a Reference that carries a business identifier instead of pointing at a
// resource (Immunization.manufacturer).
type logicalReference struct {
	Identifier *identifier `json:"identifier"`
}

type meta struct {
	Tag      []coding `json:"tag"`
	Security []coding `json:"security"`
}

type humanName struct {
	Family string   `json:"family"`
	Given  []string `json:"given"`
}

// resourceHead is read first from every resource, to know what it is before reading it whole.
type resourceHead struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
}

type patient struct {
	Meta       meta         `json:"meta"`
	Identifier []identifier `json:"identifier"`
	Name       []humanName  `json:"name"`
	BirthDate  string       `json:"birthDate"`
}

type organization struct {
	Meta meta   `json:"meta"`
	Name string `json:"name"`
}

type deviceName struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type device struct {
	Meta       meta         `json:"meta"`
	Identifier []identifier `json:"identifier"`
	DeviceName []deviceName `json:"deviceName"`
}

type observation struct {
	Meta                 meta             `json:"meta"`
	Contained            []jsontext.Value `json:"contained"`
	Identifier           []identifier     `json:"identifier"`
	Status               string           `json:"status"`
	Code                 codeableConcept  `json:"code"`
	Subject              reference        `json:"subject"`
	EffectiveDateTime    string           `json:"effectiveDateTime"`
	ValueCodeableConcept codeableConcept  `json:"valueCodeableConcept"`
	Performer            []reference      `json:"performer"`
	Device               reference        `json:"device"`
}

type immunizationPerformer struct {
	Actor reference `json:"actor"`
}

type protocolApplied struct {
	TargetDisease          []codeableConcept `json:"targetDisease"`
	DoseNumberPositiveInt  *int              `json:"doseNumberPositiveInt"`
	SeriesDosesPositiveInt *int              `json:"seriesDosesPositiveInt"`
}

type immunization struct {
	Meta               meta                    `json:"meta"`
	Contained          []jsontext.Value        `json:"contained"`
	Identifier         []identifier            `json:"identifier"`
	Status             string                  `json:"status"`
	VaccineCode        codeableConcept         `json:"vaccineCode"`
	Patient            reference               `json:"patient"`
	OccurrenceDateTime string                  `json:"occurrenceDateTime"`
	Manufacturer       logicalReference        `json:"manufacturer"`
	Performer          []immunizationPerformer `json:"performer"`
	ProtocolApplied    []protocolApplied       `json:"protocolApplied"`
}

// Code systems and identifier systems the requests use.
const (
	SystemLOINC             = "http://loinc.org"
	SystemSNOMED            = "http://snomed.info/sct"
	SystemATC               = "http://www.whocc.no/atc"
	SystemPersonnummer      = "http://electronichealth.se/identifier/personnummer"
	SystemSamordningsnummer = "http://electronichealth.se/identifier/samordningsnummer"
	// SystemRATDevice is the identifier system of the EU common list of rapid antigen tests, as
	// the Swedish FHIR guide names it. SystemRATDeviceShort, the value set's own system, is
	// accepted too.
	SystemRATDevice      = "https://covid-19-diagnostics.jrc.ec.europa.eu/devices/hsc-common-recognition-rat"
	SystemRATDeviceShort = "https://covid-19-diagnostics.jrc.ec.europa.eu/devices"
	// SystemEUProduct is the code system of vaccine products authorised in the EU (the Union
	// register of medicinal products); SystemOtherProduct that of the value set's other products.
	SystemEUProduct    = "https://ec.europa.eu/health/documents/community-register/html/"
	SystemOtherProduct = "http://ec.europa.eu/temp/vaccineproductname"
	// SystemActReason and TagHTEST mark test data in meta.tag or meta.security.
	SystemActReason = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	TagHTEST        = "HTEST"
	// DeviceNameManufacturer is the Device.deviceName.type that carries a NAAT test's name.
	DeviceNameManufacturer = "manufacturer-name"
)

// Codes with a fixed meaning in the requests.
const (
	TestTypeNAAT         = "LP6464-4"   // nucleic acid amplification (PCR)
	TestTypeRAT          = "LP217198-3" // rapid antigen test
	DiseaseCOVID19       = "840539006"
	ResultNotDetected    = "260415000"
	ResultDetected       = "260373001"
	ProphylaxisGeneric   = "28531000087107" // "COVID-19 vaccine", allowed for every product
	statusFinal          = "final"
	statusCompleted      = "completed"
	resourceObservation  = "Observation"
	resourceImmunization = "Immunization"
	resourcePatient      = "Patient"
	resourceOrganization = "Organization"
	resourceDevice       = "Device"
)

// testDataPath is the FHIRPath (under prefix, e.g. "Patient") of the first HTEST tag or security
// label, or "" when there is none.
func (m meta) testDataPath(prefix string) string {
	for _, l := range []struct {
		name  string
		codes []coding
	}{{"tag", m.Tag}, {"security", m.Security}} {
		for i, c := range l.codes {
			if c.Code == TagHTEST && c.System == SystemActReason {
				return fmt.Sprintf("%s.meta.%s[%d]", prefix, l.name, i)
			}
		}
	}
	return ""
}
