package fhir

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/registry/pnr"
)

// Subject is the person a certificate is for, as the request names them.
//
// With a personnummer or samordningsnummer (PNR not zero) the name and date of birth on the
// certificate come from the population register; GivenName, FamilyName and BirthDate then hold
// what the provider sent alongside, if anything: the provider's claim, which the issuer may use
// when the register cannot answer. Without one (PNR zero) they are the certificate's name and date
// of birth, and at least one name and the birth date are present.
type Subject struct {
	PNR        pnr.Number // zero when the person has no Swedish identity number
	GivenName  string     // given names, joined by single spaces
	FamilyName string
	BirthDate  string // YYYY, YYYY-MM or YYYY-MM-DD, as sent
}

// Examples shown in texts; valid numbers (tests check that they parse).
const (
	examplePersonnummer      = "191212121212"
	exampleSamordningsnummer = "191212721219"
)

var birthDatePattern = regexp.MustCompile(`^(\d{4})(-(\d{2})(-(\d{2}))?)?$`)

// subject reads the Patient that ref (at refPath) points to.
func (p *Parser) subject(r *report, doc *document, ref, refPath string, now time.Time) Subject {
	if ref == "" {
		r.add(problem.CodeRequired, refPath, fmt.Sprintf(
			"Reference the contained Patient from %s, e.g. \"#1\" for the Patient with id \"1\".", strings.TrimSuffix(refPath, ".reference")))
		return Subject{}
	}
	e := doc.resolve(r, ref, refPath, resourcePatient)
	if e == nil {
		return Subject{}
	}
	pat := e.patient
	var s Subject

	if len(pat.Name) > 0 {
		n := pat.Name[0]
		s.FamilyName = strings.TrimSpace(n.Family)
		given := make([]string, 0, len(n.Given))
		for _, g := range n.Given {
			if g = strings.TrimSpace(g); g != "" {
				given = append(given, g)
			}
		}
		s.GivenName = strings.Join(given, " ")
		p.check(r, "Patient.name[0].family", s.FamilyName, ruleFreeText)
		p.check(r, "Patient.name[0].given", s.GivenName, ruleFreeText)
	}
	if pat.BirthDate != "" {
		s.BirthDate = pat.BirthDate
		birthDate(r, "Patient.birthDate", pat.BirthDate, now)
	}

	if len(pat.Identifier) == 0 {
		// A person without a Swedish identity number: name and birth date are the certificate's.
		if s.FamilyName == "" && s.GivenName == "" {
			r.add(problem.CodeNameMissing, "Patient.name", "Send the person's personnummer or samordningsnummer in Patient.identifier, "+
				"or their name in Patient.name (family, given or both) together with Patient.birthDate.")
		}
		if pat.BirthDate == "" {
			r.add(problem.CodeRequired, "Patient.birthDate", "Send the person's personnummer or samordningsnummer in Patient.identifier, "+
				"or their date of birth in Patient.birthDate (YYYY-MM-DD; YYYY-MM or YYYY when the day or month is unknown).")
		}
		return s
	}
	if len(pat.Identifier) > 1 {
		r.add(problem.CodePatientIdentifierMultiple, "Patient.identifier[1]",
			"Send exactly one identifier for the person: their personnummer or their samordningsnummer, not both and not others.")
	}
	for i, id := range pat.Identifier {
		path := fmt.Sprintf("Patient.identifier[%d]", i)
		n, ok := identityNumber(r, path, id, now)
		if ok && i == 0 {
			s.PNR = n
		}
	}
	return s
}

// identityNumber validates one Patient.identifier as a personnummer or samordningsnummer.
func identityNumber(r *report, path string, id identifier, now time.Time) (pnr.Number, bool) {
	var kind pnr.Kind
	switch id.System {
	case SystemPersonnummer:
		kind = pnr.Personnummer
	case SystemSamordningsnummer:
		kind = pnr.Samordningsnummer
	default:
		r.add(problem.CodeIdentifierSystemUnknown, path+".system", fmt.Sprintf(
			"Send identifier.system %q for a personnummer or %q for a samordningsnummer.", SystemPersonnummer, SystemSamordningsnummer))
		return pnr.Number{}, false
	}
	path += ".value"
	name, example := "personnummer", examplePersonnummer
	if kind == pnr.Samordningsnummer {
		name, example = "samordningsnummer", exampleSamordningsnummer
	}
	if id.Value == "" {
		r.add(problem.CodeRequired, path, fmt.Sprintf("Send the %s as 12 digits YYYYMMDDNNNN without hyphen, e.g. %s.", name, example))
		return pnr.Number{}, false
	}
	n, err := pnr.Parse(id.Value, kind, now)
	switch {
	case err == nil:
		return n, true
	case errors.Is(err, pnr.ErrFormat):
		r.add(problem.CodePersonnummerFormat, path, formatText(name, example, id.Value))
	case errors.Is(err, pnr.ErrDate):
		r.add(problem.CodePersonnummerDate, path, dateText(kind, id.Value))
		// The check digit is a separate finding; report it too, so that both are fixed at once.
		if id.Value[11] != pnr.CheckDigit(id.Value[:11]) {
			r.add(problem.CodePersonnummerChecksum, path, checksumText(name))
		}
	case errors.Is(err, pnr.ErrChecksum):
		r.add(problem.CodePersonnummerChecksum, path, checksumText(name))
	case errors.Is(err, pnr.ErrFuture):
		r.add(problem.CodePersonnummerFuture, path, fmt.Sprintf(
			"The date of birth in this %s lies in the future. Check the century and the digits: send YYYYMMDDNNNN, e.g. %s.", name, example))
	default:
		r.add(problem.CodePersonnummerFormat, path, fmt.Sprintf("Send the %s as 12 digits YYYYMMDDNNNN without hyphen, e.g. %s.", name, example))
	}
	return pnr.Number{}, false
}

var (
	tenDigits      = regexp.MustCompile(`^\d{6}([-+]?)\d{4}$`)
	twelveWithSign = regexp.MustCompile(`^\d{8}([-+])\d{4}$`)
)

// formatText says what is wrong with an identity number that is not 12 digits, naming the
// common forms: the 10-digit form without century (with "-", "+" or nothing between date and
// serial) and the 12 digits with a separator.
func formatText(name, example, v string) string {
	twelve := fmt.Sprintf("Send the %s as 12 digits YYYYMMDDNNNN with the century and without hyphen, e.g. %s", name, example)
	short := example[2:8] + "-" + example[8:]
	if m := tenDigits.FindStringSubmatch(v); m != nil {
		if m[1] == "+" {
			return fmt.Sprintf("This is the 10-digit form of a person aged 100 or more: the \"+\" stands for the century, "+
				"which the 12-digit form writes out. %s for %s.", twelve, example[2:8]+"+"+example[8:])
		}
		return fmt.Sprintf("This is the 10-digit form, without the century (19 or 20, or 18 for the very old): "+
			"the number alone does not say it. %s for %s.", twelve, short)
	}
	if m := twelveWithSign.FindStringSubmatch(v); m != nil {
		if m[1] == "+" {
			return fmt.Sprintf("Leave out the \"+\": it marks a person aged 100 or more in the 10-digit form only; "+
				"with the century written out the 12 digits say it. %s.", twelve)
		}
		return twelve + "."
	}
	return twelve + "."
}

func dateText(kind pnr.Kind, v string) string {
	day := int(v[6]-'0')*10 + int(v[7]-'0')
	switch {
	case kind == pnr.Personnummer && day >= 61 && day <= 91:
		return "The day 61 to 91 marks a samordningsnummer (day of birth plus 60). Send it with identifier.system " +
			SystemSamordningsnummer + ", or check the digits of the personnummer (YYYYMMDDNNNN, e.g. " + examplePersonnummer + ")."
	case kind == pnr.Samordningsnummer && day >= 1 && day <= 31:
		return "A samordningsnummer carries the day of birth plus 60 (61 to 91). This looks like a personnummer: send it with identifier.system " +
			SystemPersonnummer + ", or check the digits (YYYYMMDDNNNN, e.g. " + exampleSamordningsnummer + ")."
	case kind == pnr.Samordningsnummer:
		return "The first 8 digits of this samordningsnummer are not a date of birth with 60 added to the day. Send YYYYMMDDNNNN, e.g. " +
			exampleSamordningsnummer + "."
	}
	return "The first 8 digits of this personnummer are not a real date of birth (YYYYMMDD). Send YYYYMMDDNNNN, e.g. " + examplePersonnummer + "."
}

func checksumText(name string) string {
	return fmt.Sprintf("The last digit of this %s does not match the check digit of the others (Luhn over the last 10 digits). Check the digits for a typing error.", name)
}

// birthDate checks a birth date the provider sent: YYYY, YYYY-MM or YYYY-MM-DD with a year from
// 1900 to 2099 (what the DCC's dob holds), a real date, and not after today.
func birthDate(r *report, path, v string, now time.Time) {
	const form = "Send the date of birth as YYYY-MM-DD, or YYYY-MM or YYYY when the day or month is unknown, with a year from 1900 to 2099."
	m := birthDatePattern.FindStringSubmatch(v)
	if m == nil {
		r.add(problem.CodeBirthDateFormat, path, form)
		return
	}
	year := atoi(m[1])
	month, day := 1, 1
	if m[3] != "" {
		month = atoi(m[3])
	}
	if m[5] != "" {
		day = atoi(m[5])
	}
	d := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if year < 1900 || year > 2099 || month < 1 || month > 12 || d.Month() != time.Month(month) || d.Day() != day {
		r.add(problem.CodeBirthDateFormat, path, form)
		return
	}
	today := dateOf(now)
	if dateOf(d).time().After(today.time()) {
		r.add(problem.CodeBirthDateFuture, path, "The date of birth lies in the future. Send the person's date of birth as YYYY-MM-DD.")
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
