package fhir

import "time"

// Vaccine prophylaxis codes (SNOMED CT, value set sct-vaccines-covid-19) by vaccine platform.
const (
	ProphylaxisMRNA           = "1119349007"     // SARS-CoV-2 mRNA vaccine
	ProphylaxisViralVector    = "29061000087103" // COVID-19 non-replicating viral vector vaccine
	ProphylaxisProteinSubunit = "1162643001"     // SARS-CoV-2 recombinant spike protein antigen vaccine
)

// AuthorisedVaccine is one COVID-19 vaccine authorised in the EU, with what the value sets do not
// say: the date of its EU marketing authorisation, before which no dose can have been given in
// the EU, and the specific prophylaxis code used when a request sends none.
type AuthorisedVaccine struct {
	Name         string
	Product      string // mp, Union register number
	Manufacturer string // ma, marketing authorisation holder (EMA SPOR organisation id)
	Prophylaxis  string // vp derived when the request sends none
	Authorised   string // date of the EU (conditional) marketing authorisation, YYYY-MM-DD
}

// authorisedVaccines is the documented table (docs/errors.md, "Vaccine products"). Manufacturer
// and Prophylaxis agree with the EU vaccine encoding instructions (a test checks it).
func authorisedVaccines() []AuthorisedVaccine {
	return []AuthorisedVaccine{
		{"Comirnaty", "EU/1/20/1528", "ORG-100030215", ProphylaxisMRNA, "2020-12-21"},
		{"Spikevax", "EU/1/20/1507", "ORG-100031184", ProphylaxisMRNA, "2021-01-06"},
		{"Vaxzevria", "EU/1/21/1529", "ORG-100001699", ProphylaxisViralVector, "2021-01-29"},
		{"Jcovden", "EU/1/20/1525", "ORG-100001417", ProphylaxisViralVector, "2021-03-11"},
		{"Nuvaxovid", "EU/1/21/1618", "ORG-100032020", ProphylaxisProteinSubunit, "2021-12-20"},
	}
}

// AuthorisedVaccines returns the table of EU-authorised products the parser knows authorisation
// dates for.
func AuthorisedVaccines() []AuthorisedVaccine { return authorisedVaccines() }

func authorised(product string) (AuthorisedVaccine, bool) {
	for _, v := range authorisedVaccines() {
		if v.Product == product {
			return v, true
		}
	}
	return AuthorisedVaccine{}, false
}

func (v AuthorisedVaccine) authorisedOn() civilDate {
	t, err := time.Parse(time.DateOnly, v.Authorised)
	if err != nil {
		return civilDate{}
	}
	return dateOf(t)
}

// productRules is what the value sets say about a product: its marketing authorisation holder
// and the prophylaxis codes it may be encoded with (the first being the one to derive).
type productRules struct {
	manufacturer string
	prophylaxis  []string
	derived      string
	known        bool
}

// rulesFor combines the authorised-product table and the EU vaccine encoding instructions.
func (p *Parser) rulesFor(product string) productRules {
	in, ok := p.values.Instruction(product)
	if !ok {
		return productRules{}
	}
	pr := productRules{manufacturer: in.Manufacturer, prophylaxis: in.Prophylaxis, known: true}
	if av, ok := authorised(product); ok {
		pr.derived = av.Prophylaxis
		return pr
	}
	// Other products: the most specific code the instructions allow, else the generic one.
	for _, c := range in.Prophylaxis {
		if c != ProphylaxisGeneric {
			pr.derived = c
			return pr
		}
	}
	if len(in.Prophylaxis) > 0 {
		pr.derived = in.Prophylaxis[0]
	}
	return pr
}
