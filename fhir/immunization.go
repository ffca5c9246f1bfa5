package fhir

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/signing/valueset"
)

// Vaccination is one vaccine dose as the provider reported it, validated.
type Vaccination struct {
	// Identifier is the provider's unique id for this dose (Immunization.identifier[0].value),
	// the basis of the UVCI.
	Identifier string
	Subject    Subject
	// Product is the EU product code (DCC v.mp), e.g. EU/1/20/1528.
	Product string
	// Manufacturer is the marketing authorisation holder (DCC v.ma), e.g. ORG-100030215; derived
	// from the product when the request sends none.
	Manufacturer string
	// Prophylaxis is the vaccine type (SNOMED CT, DCC v.vp); derived from the product when the
	// request sends none.
	Prophylaxis string
	// Disease is the SNOMED CT code of the disease (DCC tg): DiseaseCOVID19.
	Disease string
	// Dose is the dose number (DCC dn) and Series the doses in the series (DCC sd), each 1 to 9.
	// Dose > Series is a booster dose after a completed primary series (e.g. 2/1 after Jcovden).
	Dose, Series int
	// OccurredAt is the time of vaccination, in the offset the provider sent (DCC v.dt is its date).
	OccurredAt time.Time
	// Facility is the vaccinating organisation's name (the performer Organization), may be empty.
	Facility string
	// TestData is set when the resource is marked as test data (meta.tag or meta.security HTEST).
	TestData bool
	// TestDataPath is the FHIRPath of the HTEST mark, when TestData.
	TestDataPath string
}

// Booster reports whether the dose lies beyond the primary series (Dose > Series).
func (v Vaccination) Booster() bool { return v.Dose > v.Series }

// MaxDoses bounds dn and sd: the DCC encodes them as one digit each.
const MaxDoses = 9

// Vaccination reads the body of a vaccination-certificate request: an Immunization. On failure
// the error is Problems holding every finding.
func (p *Parser) Vaccination(body []byte) (Vaccination, error) {
	var r report
	var imm immunization
	doc, ok := decode(&r, body, resourceImmunization, &imm,
		func() []jsontext.Value { return imm.Contained },
		resourcePatient, resourceOrganization)
	if !ok {
		return Vaccination{}, r.problems
	}
	now := p.now()
	v := Vaccination{TestDataPath: doc.markedTest("Immunization", imm.Meta)}
	v.TestData = v.TestDataPath != ""

	v.Identifier = p.providerIdentifier(&r, resourceImmunization, imm.Identifier)
	if imm.Status != statusCompleted {
		statusProblem(&r, "Immunization.status", imm.Status, statusCompleted, "a completed vaccination")
	}
	v.Subject = p.subject(&r, doc, imm.Patient.Reference, "Immunization.patient.reference", now)
	p.vaccine(&r, &v, imm)
	occurred, occurredOK := dateTime(&r, "Immunization.occurrenceDateTime", imm.OccurrenceDateTime,
		"occurrenceDateTime (the time of vaccination)", "2021-07-21T10:28:00+02:00")
	v.OccurredAt = occurred
	p.protocol(&r, &v, imm.ProtocolApplied)
	v.Facility = p.vaccinator(&r, doc, imm.Performer)

	if occurredOK {
		if occurred.After(now.Add(p.clockSkew)) {
			r.add(problem.CodeDateTimeFuture, "Immunization.occurrenceDateTime",
				"The time of vaccination lies in the future. Send the time the dose was given, with its zone (e.g. +01:00 in winter, +02:00 in summer for Swedish time).")
		} else if av, ok := authorised(v.Product); ok && dateOf(occurred).before(av.authorisedOn()) {
			r.add(problem.CodeVaccinationBeforeApproval, "Immunization.occurrenceDateTime", fmt.Sprintf(
				"%s was authorised in the EU on %s; a dose given before that date cannot be certified. Check the date of vaccination and the product.",
				av.Name, av.Authorised))
		}
	}
	if err := r.err(); err != nil {
		return v, err // what could be read, as Test does
	}
	return v, nil
}

// vaccine reads the product (mp), the prophylaxis (vp) and the marketing authorisation holder
// (ma), and checks that they fit together.
func (p *Parser) vaccine(r *report, v *Vaccination, imm immunization) {
	const base = "Immunization.vaccineCode.coding"
	var product, productPath, vp, vpPath string
	for i, c := range imm.VaccineCode.Coding {
		path := fmt.Sprintf("%s[%d].code", base, i)
		code := strings.TrimSpace(c.Code)
		switch c.System {
		case SystemEUProduct, SystemOtherProduct:
			if productPath == "" {
				product, productPath = code, path
			} else if code != product {
				r.add(problem.CodeCodingAmbiguous, path, fmt.Sprintf("Send one vaccine product; %s and %s contradict each other.", quote(product), quote(code)))
			}
		case SystemSNOMED, SystemATC:
			if vpPath == "" {
				vp, vpPath = code, path
			} else if code != vp {
				r.add(problem.CodeCodingAmbiguous, path, fmt.Sprintf("Send one vaccine type; %s and %s contradict each other.", quote(vp), quote(code)))
			}
		}
	}

	if productPath == "" {
		r.add(problem.CodeRequired, base, fmt.Sprintf(
			"Add a coding with system %s and the product's EU number as code, e.g. EU/1/20/1528 for Comirnaty.", SystemEUProduct))
	} else if p.inValueSet(r, productPath, valueset.VaccineProduct, product, "vaccine product") {
		v.Product = product
	}
	rules := p.rulesFor(v.Product)

	// vp: sent, or derived from the product.
	switch {
	case vpPath != "":
		if p.inValueSet(r, vpPath, valueset.VaccineProphylaxis, vp, "vaccine type") {
			v.Prophylaxis = vp
			if rules.known && !contains(rules.prophylaxis, vp) {
				r.add(problem.CodeProphylaxisMismatch, vpPath, fmt.Sprintf(
					"Vaccine type %s does not fit product %s: send %s, or leave the SNOMED CT coding out and it is derived from the product.",
					quote(vp), v.Product, strings.Join(rules.prophylaxis, " or ")))
				v.Prophylaxis = ""
			}
		}
	case rules.derived != "":
		v.Prophylaxis = rules.derived
	case v.Product != "":
		r.add(problem.CodeRequired, base, fmt.Sprintf(
			"Add the vaccine type as a coding with system %s (value set %s); it cannot be derived from this product.", SystemSNOMED, valueset.VaccineProphylaxis))
	}

	// ma: sent, or derived from the product.
	const maPath = "Immunization.manufacturer.identifier.value"
	var ma string
	if imm.Manufacturer.Identifier != nil {
		ma = strings.TrimSpace(imm.Manufacturer.Identifier.Value)
	}
	switch {
	case ma != "":
		if p.inValueSet(r, maPath, valueset.VaccineManufacturer, ma, "marketing authorisation holder") {
			v.Manufacturer = ma
			if rules.known && rules.manufacturer != ma {
				r.add(problem.CodeManufacturerMismatch, maPath, fmt.Sprintf(
					"Product %s is held by %s, not %s: send %s, or leave manufacturer out and it is derived from the product.",
					v.Product, rules.manufacturer, quote(ma), rules.manufacturer))
				v.Manufacturer = ""
			}
		}
	case rules.manufacturer != "":
		v.Manufacturer = rules.manufacturer
	case v.Product != "":
		r.add(problem.CodeRequired, maPath, fmt.Sprintf(
			"Send the marketing authorisation holder in manufacturer.identifier.value (value set %s); it cannot be derived from this product.",
			valueset.VaccineManufacturer))
	}
}

// protocol reads protocolApplied[0]: dose number, doses in the series and the target disease.
func (p *Parser) protocol(r *report, v *Vaccination, pa []protocolApplied) {
	const base = "Immunization.protocolApplied[0]"
	var first protocolApplied
	if len(pa) > 0 {
		first = pa[0]
	}
	v.Dose = dose(r, base+".doseNumberPositiveInt", first.DoseNumberPositiveInt, "the number of this dose (dn)")
	v.Series = dose(r, base+".seriesDosesPositiveInt", first.SeriesDosesPositiveInt, "the number of doses in the primary series (sd)")

	var codings []coding
	if len(first.TargetDisease) > 0 {
		codings = first.TargetDisease[0].Coding
	}
	v.Disease = p.disease(r, base+".targetDisease[0].coding", codings)
}

func dose(r *report, path string, n *int, what string) int {
	if n == nil {
		r.add(problem.CodeRequired, path, fmt.Sprintf("Send %s as a number from 1 to %d.", what, MaxDoses))
		return 0
	}
	if *n < 1 || *n > MaxDoses {
		r.add(problem.CodeDoseOutOfRange, path, fmt.Sprintf("Send %s as a number from 1 to %d.", what, MaxDoses))
		return 0
	}
	return *n
}

// vaccinator reads the name of the first performer actor that is a contained Organization.
func (p *Parser) vaccinator(r *report, doc *document, performers []immunizationPerformer) string {
	name := ""
	for i, pf := range performers {
		path := fmt.Sprintf("Immunization.performer[%d].actor.reference", i)
		if pf.Actor.Reference == "" {
			r.add(problem.CodeRequired, path, "Reference the contained Organization that gave the vaccination, e.g. \"#2\", or leave performer out.")
			continue
		}
		e := doc.resolve(r, pf.Actor.Reference, path, resourceOrganization)
		if e == nil || name != "" {
			continue
		}
		name = strings.TrimSpace(e.organization.Name)
		p.check(r, "Organization.name", name, ruleFreeText)
	}
	return name
}
