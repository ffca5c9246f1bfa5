package fhirtest

// Fixture is one committed example request under fhir/testdata/.
type Fixture struct {
	// File is the file name under fhir/testdata/, e.g. "naat.json".
	File string
	// Resource is "Observation" or "Immunization".
	Resource string
	// Kind is the Observation kind (NAAT, RAT, NoPNR, Recovery) or the vaccine product code.
	Kind string
	// Recovery is set for the body of a recovery request (the others are tests or vaccinations).
	Recovery bool
}

// Build builds the fixture's body with options; Build(Now(FixtureNow)) is the file's content.
func (f Fixture) Build(opts ...Option) []byte {
	if f.Resource == "Immunization" {
		return Immunization(f.Kind, opts...)
	}
	return Observation(f.Kind, opts...)
}

// Fixtures lists every valid example request.
func Fixtures() []Fixture {
	return []Fixture{
		{File: "naat.json", Resource: "Observation", Kind: NAAT},
		{File: "rat.json", Resource: "Observation", Kind: RAT},
		{File: "no-pnr.json", Resource: "Observation", Kind: NoPNR},
		{File: "recovery.json", Resource: "Observation", Kind: Recovery, Recovery: true},
		{File: "immunization-comirnaty.json", Resource: "Immunization", Kind: Comirnaty},
		{File: "immunization-spikevax.json", Resource: "Immunization", Kind: Spikevax},
		{File: "immunization-vaxzevria.json", Resource: "Immunization", Kind: Vaxzevria},
		{File: "immunization-jcovden.json", Resource: "Immunization", Kind: Jcovden},
		{File: "immunization-nuvaxovid.json", Resource: "Immunization", Kind: Nuvaxovid},
	}
}
