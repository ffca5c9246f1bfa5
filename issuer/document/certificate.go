package document

import (
	"strconv"
	"time"
)

// Kind says which of the three EU DCC certificate types a document shows.
type Kind string

// The certificate kinds.
const (
	KindTest        Kind = "test"
	KindRecovery    Kind = "recovery"
	KindVaccination Kind = "vaccination"
)

// title is the bilingual name of a kind as printed under the headline.
func (k Kind) title() (sv, en string, ok bool) {
	switch k {
	case KindTest:
		return "Testintyg", "Test certificate", true
	case KindRecovery:
		return "Intyg om tillfrisknande", "Certificate of recovery", true
	case KindVaccination:
		return "Vaccinationsintyg", "Vaccination certificate", true
	}
	return "", "", false
}

// details is the bilingual heading of a kind's own rows.
func (k Kind) details() (sv, en string) {
	switch k {
	case KindTest:
		return "Testuppgifter", "Test details"
	case KindRecovery:
		return "Uppgifter om tillfrisknande", "Recovery details"
	}
	return "Vaccinationsuppgifter", "Vaccination details"
}

// Certificate holds what a printed certificate shows, as display values:
// value-set codes are already resolved to their display text and nothing here
// is checked against issuance rules.
type Certificate struct {
	Kind Kind
	// HC1 is the signed certificate as an "HC1:" string, printed as a QR code.
	HC1 string
	// UVCI is the unique certificate identifier.
	UVCI string
	// FamilyName and GivenName are the names as written in the person's own
	// script; FamilyNameStd and GivenNameStd are the ICAO 9303 standardised
	// forms (A to Z and '<'), which are always printed and stand in for the
	// native names when those cannot be printed (see PDF).
	FamilyName, GivenName       string
	FamilyNameStd, GivenNameStd string
	// BirthDate is shown as given (YYYY, YYYY-MM or YYYY-MM-DD).
	BirthDate string
	// IssuedAt is the issuance time. It is also the PDF's creation date, so it
	// must be set. ValidUntil, when set, is printed as the certificate's
	// expiry. Both are printed as dates in their own location.
	IssuedAt, ValidUntil time.Time
	// Issuer is the certificate issuer ("Swedish eHealth Agency"); Country is
	// the issuing Member State as it should read ("Sverige / Sweden (SE)").
	Issuer, Country string
	// Fields are the kind's own rows, in order; TestFields, RecoveryFields and
	// VaccinationFields build them.
	Fields []Field
	// Sandbox marks a certificate issued in the sandbox environment: its PDF
	// carries "SANDBOX - NOT VALID / INTE GILTIGT" on every page.
	Sandbox bool
}

// Field is one labelled row of a printed certificate.
type Field struct {
	LabelSV, LabelEN, Value string
}

// TestDetails are the display values of a test entry.
type TestDetails struct {
	Disease      string // "COVID-19"
	TestType     string // "Nucleic acid amplification with probe detection"
	TestName     string // NAAT only; empty for a rapid antigen test
	Manufacturer string // rapid antigen test device, or the NAAT manufacturer
	SampleTime   time.Time
	Result       string // "Not detected"
	Facility     string // testing centre or facility
	Country      string // Member State of the test
}

// RecoveryDetails are the display values of a recovery entry.
type RecoveryDetails struct {
	Disease       string
	FirstPositive time.Time // date of the first positive NAAT result
	ValidFrom     time.Time
	ValidUntil    time.Time
	Country       string // Member State of the test
}

// VaccinationDetails are the display values of a vaccination entry.
type VaccinationDetails struct {
	Disease      string
	VaccineType  string // vaccine or prophylaxis
	Product      string // vaccine medicinal product
	Manufacturer string // marketing authorisation holder or manufacturer
	Dose, Doses  int    // dose number in a series of Doses
	Date         time.Time
	Country      string // Member State of vaccination
}

const (
	dateLayout     = "2006-01-02"
	dateTimeLayout = "2006-01-02 15:04 Z07:00"
)

// sampleTimeLabelEN labels the sample time of a test, from which the
// certificate's validity counts.
const sampleTimeLabelEN = "Date and time of sample collection"

// TestFields returns the rows of a test certificate, leaving out empty values
// and a manufacturer that only repeats the test name (a NAAT's name often is
// its manufacturer's product line). The sample time is printed with its UTC
// offset, in its own location.
func TestFields(d TestDetails) []Field {
	if d.Manufacturer == d.TestName {
		d.Manufacturer = ""
	}
	return nonEmpty([]Field{
		{"Sjukdom eller agens", "Disease or agent targeted", d.Disease},
		{"Typ av test", "Type of test", d.TestType},
		{"Testets namn", "Test name", d.TestName},
		{"Testtillverkare", "Test manufacturer", d.Manufacturer},
		{"Tid för provtagning", sampleTimeLabelEN, formatTime(d.SampleTime, dateTimeLayout)},
		{"Testresultat", "Test result", d.Result},
		{"Testcenter eller inrättning", "Testing centre or facility", d.Facility},
		{"Land där testet utfördes", "Member State of test", d.Country},
	})
}

// RecoveryFields returns the rows of a certificate of recovery, leaving out
// empty values.
func RecoveryFields(d RecoveryDetails) []Field {
	return nonEmpty([]Field{
		{"Sjukdom eller agens", "Disease or agent the citizen has recovered from", d.Disease},
		{"Datum för första positiva testresultat", "Date of first positive test result", formatTime(d.FirstPositive, dateLayout)},
		{"Land där testet utfördes", "Member State of test", d.Country},
		{"Intyget giltigt från", "Certificate valid from", formatTime(d.ValidFrom, dateLayout)},
		{"Intyget giltigt till och med", "Certificate valid until", formatTime(d.ValidUntil, dateLayout)},
	})
}

// VaccinationFields returns the rows of a vaccination certificate, leaving out
// empty values; the dose is printed as "Dose / Doses" when both are positive.
func VaccinationFields(d VaccinationDetails) []Field {
	dose := ""
	if d.Dose > 0 && d.Doses > 0 {
		dose = strconv.Itoa(d.Dose) + " / " + strconv.Itoa(d.Doses)
	}
	return nonEmpty([]Field{
		{"Sjukdom eller agens", "Disease or agent targeted", d.Disease},
		{"Typ av vaccin", "Vaccine or prophylaxis", d.VaccineType},
		{"Vaccinets namn", "Vaccine medicinal product", d.Product},
		{"Tillverkare", "Marketing authorisation holder or manufacturer", d.Manufacturer},
		{"Dosnummer / totalt antal doser", "Dose number / total number of doses", dose},
		{"Vaccinationsdatum", "Date of vaccination", formatTime(d.Date, dateLayout)},
		{"Land där vaccinationen gavs", "Member State of vaccination", d.Country},
	})
}

func formatTime(t time.Time, layout string) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(layout)
}

func nonEmpty(fields []Field) []Field {
	out := fields[:0]
	for _, f := range fields {
		if f.Value != "" {
			out = append(out, f)
		}
	}
	return out
}
