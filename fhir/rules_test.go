package fhir_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir"
	ft "github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/registry/pnr"
	"github.com/sedcc/dcc/signing/valueset"
)

// now is the clock of the rule tests.
var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

var values = valueset.MustLoad()

func newParser(at time.Time) *fhir.Parser {
	return fhir.NewParser(fhir.Options{Now: func() time.Time { return at }, Values: values})
}

type endpoint int

const (
	test endpoint = iota
	recovery
	vaccination
)

func (e endpoint) String() string { return [...]string{"Test", "Recovery", "Vaccination"}[e] }

func parse(p *fhir.Parser, e endpoint, body []byte) (any, error) {
	switch e {
	case recovery:
		return p.Recovery(body)
	case vaccination:
		return p.Vaccination(body)
	}
	return p.Test(body)
}

// obs and imm build bodies valid at now, changed by opts.
func obs(kind string, opts ...ft.Option) []byte {
	return ft.Observation(kind, append([]ft.Option{ft.Now(now)}, opts...)...)
}

func imm(product string, opts ...ft.Option) []byte {
	return ft.Immunization(product, append([]ft.Option{ft.Now(now)}, opts...)...)
}

type ruleCase struct {
	name string
	e    endpoint
	body []byte
	want []string // "code@FHIRPath" of every problem, in order; nil for a valid body
}

func TestRules(t *testing.T) {
	cases := ruleCases()
	seen := map[string]bool{}
	p := newParser(now)
	for _, tc := range cases {
		t.Run(tc.e.String()+"/"+tc.name, func(t *testing.T) {
			_, err := parse(p, tc.e, tc.body)
			got := located(t, err)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("problems\n got: %q\nwant: %q", got, tc.want)
			}
			for _, w := range tc.want {
				seen[strings.SplitN(w, "@", 2)[0]] = true
			}
		})
	}
	for _, c := range contentCodes() {
		if !seen[c.Code] {
			t.Errorf("no rule test raises %s", c.Code)
		}
	}
}

// ruleCases are the rule tests: bodies valid at now but for one change, and what they raise.
func ruleCases() []ruleCase {
	pnrDate := ft.MakePersonnummer("19121332", "121") // 32 December
	pnrDateAndSum := wrongCheckDigit(pnrDate)
	pnrSum := wrongCheckDigit(ft.DefaultPNR)
	pnrFuture := ft.MakePersonnummer("20991231", "123")
	snr := ft.MakeSamordningsnummer("19900115", "238")
	longID := strings.Repeat("a", fhir.IdentifierMaxLen+1)
	long := strings.Repeat("x", fhir.FreeTextMaxLen+1)
	cet := time.FixedZone("CET", 3600)

	cases := []ruleCase{
		// The body as a whole.
		{"too large", test, obs(ft.NAAT, ft.Set("text.div", strings.Repeat("a", fhir.MaxBodyBytes))), []string{"body-too-large@"}},
		{"not JSON", test, []byte(`{"resourceType": "Observation",`), []string{"json-malformed@"}},
		{"empty body", test, nil, []string{"json-malformed@"}},
		{"trailing data", test, append(obs(ft.NAAT), []byte("{}")...), []string{"json-malformed@"}},
		{"array", test, []byte(`[{"resourceType": "Observation"}]`), []string{"json-type@"}},
		{"byte-order mark", test, append([]byte("\xef\xbb\xbf"), obs(ft.NAAT)...), []string{"body-encoding@"}},
		{"Latin-1", test, latin1(obs(ft.NoPNR, ft.Name("Öberg", "Åsa"))), []string{"body-encoding@"}},
		{"duplicate result code", test, duplicateMember(obs(ft.NAAT), `"code":"260415000"`, `"code":"260373001",`),
			[]string{"json-member-duplicate@Observation.valueCodeableConcept.coding[0].code"}},
		{"duplicate status", test, duplicateMember(obs(ft.NAAT), `"status":"final"`, `"status":"preliminary",`),
			[]string{"json-member-duplicate@Observation.status"}},
		{"duplicate in contained", test, duplicateMember(obs(ft.NAAT), `"id":"1"`, `"id":"2",`),
			[]string{"json-member-duplicate@Observation.contained[0].id"}},
		{"upper-case member", test, renameMember(obs(ft.NAAT), `"status"`, `"STATUS"`), []string{"json-member-case@Observation.STATUS"}},
		{"long s member", test, renameMember(obs(ft.NAAT), `"status"`, `"ſtatus"`), []string{"json-member-case@Observation.ſtatus"}},
		{"capitalised member in contained", test, renameMember(obs(ft.NAAT), `"identifier":[{"system":"http://electronichealth.se`, `"Identifier":[{"system":"http://electronichealth.se`),
			[]string{"json-member-case@Observation.contained[0].Identifier"}},
		{"string", test, []byte(`"Observation"`), []string{"json-type@"}},
		{"immunization to test", test, imm(ft.Comirnaty), []string{"resource-type-unexpected@"}},
		{"observation to vaccination", vaccination, obs(ft.NAAT), []string{"resource-type-unexpected@"}},
		{"no resourceType", test, obs(ft.NAAT, ft.Remove("resourceType")), []string{"resource-type-unexpected@"}},
		{"resourceType number", test, obs(ft.NAAT, ft.Set("resourceType", 7)), []string{"resource-type-unexpected@"}},
		{"status number", test, obs(ft.NAAT, ft.Set("status", 1)), []string{"json-type@Observation.status"}},
		{"identifier value number", test, obs(ft.NAAT, ft.Set("identifier[0].value", 17)), []string{"json-type@Observation.identifier[0].value"}},
		{"coding object", test, obs(ft.NAAT, ft.Set("code.coding[1]", "840539006")), []string{"json-type@Observation.code.coding[1]"}},
		{"contained given string", test, obs(ft.NoPNR, ft.Set("contained[0].name[0].given", "Åse")), []string{"json-type@Patient.name[0].given"}},
		{"contained not object", test, obs(ft.NAAT, ft.Set("contained[1]", "Organization")), []string{"json-type@Observation.contained[1]"}},
		{"contained Practitioner", test, obs(ft.NAAT, ft.Set("contained[3]", map[string]any{"resourceType": "Practitioner", "id": "4"})),
			[]string{"resource-type-unexpected@Observation.contained[3].resourceType"}},
		{"contained without type", test, obs(ft.NAAT, ft.Set("contained[3]", map[string]any{"id": "4"})),
			[]string{"resource-type-unexpected@Observation.contained[3].resourceType"}},
		{"device in immunization", vaccination, imm(ft.Comirnaty, ft.Set("contained[2]", map[string]any{"resourceType": "Device", "id": "3"})),
			[]string{"resource-type-unexpected@Immunization.contained[2].resourceType"}},
		{"duplicate id", test, obs(ft.NAAT, ft.Set("contained[1].id", "1")), []string{
			"contained-id-duplicate@Observation.contained[1].id",
			"reference-dangling@Observation.performer[0].reference",
			"performer-name-missing@Observation.performer"}},

		// The provider's identifier and status.
		{"identifier missing", test, obs(ft.NAAT, ft.Remove("identifier")), []string{"required@Observation.identifier[0].value"}},
		{"identifier empty", test, obs(ft.NAAT, ft.Identifier("")), []string{"required@Observation.identifier[0].value"}},
		{"identifier space", test, obs(ft.NAAT, ft.Identifier("LAB 17")), []string{"identifier-format@Observation.identifier[0].value"}},
		{"identifier too long", test, obs(ft.NAAT, ft.Identifier(longID)), []string{"identifier-format@Observation.identifier[0].value"}},
		{"identifier longest", test, obs(ft.NAAT, ft.Identifier(longID[1:])), nil},
		{"identifier urn", test, obs(ft.NAAT, ft.Identifier("urn:uuid:7f2c9a64-1b7e-4f3a-9c55-2e8d0b6a4f19")), nil},
		{"status preliminary", test, obs(ft.NAAT, ft.Status("preliminary")), []string{"status-invalid@Observation.status"}},
		{"status missing", test, obs(ft.NAAT, ft.Remove("status")), []string{"required@Observation.status"}},

		// Codes.
		{"test type unknown", test, obs(ft.NAAT, ft.TestType("94309-2")), []string{"valueset-unknown@Observation.code.coding[0].code"}},
		{"test type missing", test, obs(ft.NAAT, ft.Remove("code.coding[0]")), []string{"required@Observation.code.coding"}},
		{"test type wrong system", test, obs(ft.NAAT, ft.Set("code.coding[0].system", "loinc.org")), []string{"required@Observation.code.coding"}},
		{"disease unknown", test, obs(ft.NAAT, ft.Set("code.coding[1].code", "186747009")), []string{"valueset-unknown@Observation.code.coding[1].code"}},
		{"disease missing", test, obs(ft.NAAT, ft.Remove("code.coding[1]")), []string{"required@Observation.code.coding"}},
		{"test type ambiguous", test, obs(ft.NAAT, ft.Set("code.coding[2]", map[string]any{"system": "http://loinc.org", "code": "LP217198-3"})),
			[]string{"coding-ambiguous@Observation.code.coding[2].code"}},
		{"test type repeated", test, obs(ft.NAAT, ft.Set("code.coding[2]", map[string]any{"system": "http://loinc.org", "code": "LP6464-4"})), nil},

		// References to the Patient.
		{"subject missing", test, obs(ft.NAAT, ft.Remove("subject")), []string{"required@Observation.subject.reference"}},
		{"subject dangling", test, obs(ft.NAAT, ft.Set("subject.reference", "#9")), []string{"reference-dangling@Observation.subject.reference"}},
		{"subject not local", test, obs(ft.NAAT, ft.Set("subject.reference", "Patient/1")), []string{"reference-dangling@Observation.subject.reference"}},
		{"subject organization", test, obs(ft.NAAT, ft.Set("subject.reference", "#2")), []string{"reference-type@Observation.subject.reference"}},
		{"patient any id", test, obs(ft.NAAT, ft.Set("contained[0].id", "pat-A"), ft.Set("subject.reference", "#pat-A")), nil},

		// Personnummer and samordningsnummer.
		{"two identifiers", test, obs(ft.NAAT, ft.Set("contained[0].identifier[1]", map[string]any{"system": fhir.SystemSamordningsnummer, "value": snr})),
			[]string{"patient-identifier-multiple@Patient.identifier[1]"}},
		{"identifier system unknown", test, obs(ft.NAAT, ft.Set("contained[0].identifier[0].system", "urn:oid:1.2.752.129.2.1.3.1")),
			[]string{"identifier-system-unknown@Patient.identifier[0].system"}},
		{"pnr empty", test, obs(ft.NAAT, ft.PNR("")), []string{"required@Patient.identifier[0].value"}},
		{"pnr hyphen", test, obs(ft.NAAT, ft.PNR("19121212-1212")), []string{"personnummer-format@Patient.identifier[0].value"}},
		{"pnr 10 digits", test, obs(ft.NAAT, ft.PNR("1212121212")), []string{"personnummer-format@Patient.identifier[0].value"}},
		{"pnr date", test, obs(ft.NAAT, ft.PNR(pnrDate)), []string{"personnummer-date@Patient.identifier[0].value"}},
		{"pnr date and checksum", test, obs(ft.NAAT, ft.PNR(pnrDateAndSum)), []string{
			"personnummer-date@Patient.identifier[0].value", "personnummer-checksum@Patient.identifier[0].value"}},
		{"pnr checksum", test, obs(ft.NAAT, ft.PNR(pnrSum)), []string{"personnummer-checksum@Patient.identifier[0].value"}},
		{"pnr future", test, obs(ft.NAAT, ft.PNR(pnrFuture)), []string{"personnummer-future@Patient.identifier[0].value"}},
		{"samordningsnummer", test, obs(ft.NAAT, ft.Samordningsnummer(snr)), nil},
		{"samordningsnummer as pnr", test, obs(ft.NAAT, ft.PNR(snr)), []string{"personnummer-date@Patient.identifier[0].value"}},
		{"pnr as samordningsnummer", test, obs(ft.NAAT, ft.Samordningsnummer(ft.DefaultPNR)), []string{"personnummer-date@Patient.identifier[0].value"}},
		{"samordningsnummer checksum", test, obs(ft.NAAT, ft.Samordningsnummer(wrongCheckDigit(snr))),
			[]string{"personnummer-checksum@Patient.identifier[0].value"}},
		{"pnr with claim", test, obs(ft.NAAT, ft.Name("Tolvansson", "Tolvan"), ft.BirthDate("1912-12-12")), nil},
		{"pnr with bad claim", test, obs(ft.NAAT, ft.BirthDate("12/12/1912")), []string{"birthdate-format@Patient.birthDate"}},

		// A person without personnummer.
		{"no name", test, obs(ft.NoPNR, ft.Remove("contained[0].name")), []string{"name-missing@Patient.name"}},
		{"empty name", test, obs(ft.NoPNR, ft.Name("")), []string{"name-missing@Patient.name"}},
		{"blank names", test, obs(ft.NoPNR, ft.Name("  ", " ")), []string{"name-missing@Patient.name"}},
		{"family only", test, obs(ft.NoPNR, ft.Name("Ødegård")), nil},
		{"given only", test, obs(ft.NoPNR, ft.Name("", "Åse")), nil},
		{"no birth date", test, obs(ft.NoPNR, ft.BirthDate("")), []string{"required@Patient.birthDate"}},
		{"nothing at all", test, obs(ft.NoPNR, ft.Remove("contained[0].name"), ft.BirthDate("")), []string{
			"name-missing@Patient.name", "required@Patient.birthDate"}},
		{"birth year", test, obs(ft.NoPNR, ft.BirthDate("1974")), nil},
		{"birth year and month", test, obs(ft.NoPNR, ft.BirthDate("1974-07")), nil},
		{"birth date slashes", test, obs(ft.NoPNR, ft.BirthDate("17/07/1974")), []string{"birthdate-format@Patient.birthDate"}},
		{"birth date time", test, obs(ft.NoPNR, ft.BirthDate("1974-07-17T00:00:00Z")), []string{"birthdate-format@Patient.birthDate"}},
		{"birth date 30 February", test, obs(ft.NoPNR, ft.BirthDate("1974-02-30")), []string{"birthdate-format@Patient.birthDate"}},
		{"birth month 13", test, obs(ft.NoPNR, ft.BirthDate("1974-13")), []string{"birthdate-format@Patient.birthDate"}},
		{"birth year 1899", test, obs(ft.NoPNR, ft.BirthDate("1899-12-31")), []string{"birthdate-format@Patient.birthDate"}},
		{"birth date future", test, obs(ft.NoPNR, ft.BirthDate("2026-11-26")), []string{"birthdate-future@Patient.birthDate"}},
		{"birth month future", test, obs(ft.NoPNR, ft.BirthDate("2026-12")), []string{"birthdate-future@Patient.birthDate"}},
		{"birth date today", test, obs(ft.NoPNR, ft.BirthDate("2026-11-25")), nil},
		{"family too long", test, obs(ft.NoPNR, ft.Name(long, "Åse")), []string{"text-too-long@Patient.name[0].family"}},
		{"given with line break", test, obs(ft.NoPNR, ft.Name("Ødegård", "Åse\nMarie")), []string{"text-invalid@Patient.name[0].given"}},
		{"family with combining accents", test, obs(ft.NoPNR, ft.Name("Nguye\u0302\u0303n", "Thi\u0323")), nil},
		{"family with no-break space", test, obs(ft.NoPNR, ft.Name("van\u00a0Dijk", "Anna")), nil},
		{"family with right-to-left override", test, obs(ft.NoPNR, ft.Name("Ödeg\u202eård", "Åse")), []string{"text-invalid@Patient.name[0].family"}},
		{"given with zero-width space", test, obs(ft.NoPNR, ft.Name("Ödegård", "Å\u200bse")), []string{"text-invalid@Patient.name[0].given"}},
		{"given with line separator", test, obs(ft.NoPNR, ft.Name("Ödegård", "Åse\u2028Marie")), []string{"text-invalid@Patient.name[0].given"}},
		{"given with paragraph separator", test, obs(ft.NoPNR, ft.Name("Ödegård", "Åse\u2029Marie")), []string{"text-invalid@Patient.name[0].given"}},
		{"given with byte-order mark", test, obs(ft.NoPNR, ft.Name("Ödegård", "\ufeffÅse")), []string{"text-invalid@Patient.name[0].given"}},
		{"family with private use", test, obs(ft.NoPNR, ft.Name("Ödeg\ue000ård", "Åse")), []string{"text-invalid@Patient.name[0].family"}},
		{"family unassigned", test, obs(ft.NoPNR, ft.Name("Ödeg\U000e0fffård", "Åse")), []string{"text-invalid@Patient.name[0].family"}},
		{"testing centre with tag characters", test, obs(ft.NAAT, ft.Performer("Provtagning\U000e0041\U000e0042 Syd")), []string{"text-invalid@Organization.name"}},
		{"testing centre with right-to-left override", test, obs(ft.NAAT, ft.Performer("Provtagning \u202eSyd")), []string{"text-invalid@Organization.name"}},
		{"device name with zero-width joiner", test, obs(ft.NAAT, ft.Set("contained[2].deviceName[0].name", "PCR\u200dKit")), []string{"text-invalid@Device.deviceName[0].name"}},

		// Sample collection time.
		{"effective missing", test, obs(ft.NAAT, ft.Remove("effectiveDateTime")), []string{"required@Observation.effectiveDateTime"}},
		{"effective without zone", test, obs(ft.NAAT, ft.AtRaw("2026-11-25T09:00:00")), []string{"timezone-missing@Observation.effectiveDateTime"}},
		{"effective without zone or seconds", test, obs(ft.NAAT, ft.AtRaw("2026-11-25T09:00")), []string{"timezone-missing@Observation.effectiveDateTime"}},
		{"effective date only", test, obs(ft.NAAT, ft.AtRaw("2026-11-25")), []string{"datetime-invalid@Observation.effectiveDateTime"}},
		{"effective garbage", test, obs(ft.NAAT, ft.AtRaw("yesterday")), []string{"datetime-invalid@Observation.effectiveDateTime"}},
		{"effective offset without colon", test, obs(ft.NAAT, ft.AtRaw("2026-11-25T09:00:00+0100")), []string{"datetime-invalid@Observation.effectiveDateTime"}},
		{"effective with offset", test, obs(ft.NAAT, ft.AtRaw("2026-11-25T09:00:00+01:00")), nil},
		{"effective with fraction", test, obs(ft.NAAT, ft.AtRaw("2026-11-25T09:00:00.250Z")), nil},
		{"effective future", test, obs(ft.NAAT, ft.At(now.Add(6*time.Minute))), []string{"datetime-future@Observation.effectiveDateTime"}},
		{"effective within skew", test, obs(ft.NAAT, ft.At(now.Add(4*time.Minute))), nil},
		{"test too old", test, obs(ft.NAAT, ft.Age(72*time.Hour+time.Second)), []string{"test-too-old@Observation.effectiveDateTime"}},
		{"test just young enough", test, obs(ft.NAAT, ft.Age(72*time.Hour)), nil},

		// Results.
		{"positive test", test, obs(ft.NAAT, ft.Result(ft.Detected)), []string{"test-result-not-allowed@Observation.valueCodeableConcept.coding[0].code"}},
		{"negative recovery", recovery, obs(ft.Recovery, ft.Result(ft.NotDetected)), []string{"test-result-not-allowed@Observation.valueCodeableConcept.coding[0].code"}},
		{"result unknown", test, obs(ft.NAAT, ft.Result("10828004")), []string{"valueset-unknown@Observation.valueCodeableConcept.coding[0].code"}},
		{"result missing", test, obs(ft.NAAT, ft.Remove("valueCodeableConcept")), []string{"required@Observation.valueCodeableConcept.coding"}},

		// Recovery.
		{"recovery 10 days", recovery, obs(ft.Recovery, ft.At(now.AddDate(0, 0, -10))), []string{"recovery-too-recent@Observation.effectiveDateTime"}},
		{"recovery 11 days", recovery, obs(ft.Recovery, ft.At(now.AddDate(0, 0, -11))), nil},
		{"recovery 11 calendar days", recovery, obs(ft.Recovery, ft.At(time.Date(2026, 11, 14, 23, 59, 0, 0, cet))), nil},
		{"recovery 180 days", recovery, obs(ft.Recovery, ft.At(now.AddDate(0, 0, -180))), nil},
		{"recovery 181 days", recovery, obs(ft.Recovery, ft.At(now.AddDate(0, 0, -181))), []string{"recovery-too-old@Observation.effectiveDateTime"}},
		{"recovery future", recovery, obs(ft.Recovery, ft.At(now.Add(time.Hour))), []string{"datetime-future@Observation.effectiveDateTime"}},
		{"recovery from RAT", recovery, obs(ft.Recovery, ft.TestType(ft.TestTypeRAT), ft.Device(ft.DefaultDevice)),
			[]string{"recovery-not-naat@Observation.code.coding[0].code"}},
		{"recovery without performer", recovery, obs(ft.Recovery, ft.WithoutPerformer()), []string{"performer-name-missing@Observation.performer"}},

		// Devices.
		{"RAT without device", test, obs(ft.RAT, ft.WithoutDevice()), []string{"rat-device-missing@Observation.device"}},
		{"RAT device unknown", test, obs(ft.RAT, ft.Device("999999")), []string{"rat-device-unknown@Device.identifier[0].value"}},
		{"RAT device inactive", test, obs(ft.RAT, ft.Device("1065")), []string{"valueset-inactive@Device.identifier[0].value"}},
		{"RAT device empty", test, obs(ft.RAT, ft.Device("")), []string{"rat-device-missing@Device.identifier[0].value"}},
		{"RAT device other system", test, obs(ft.RAT, ft.Set("contained[2].identifier[0].system", "urn:gtin")), []string{"rat-device-missing@Device.identifier"}},
		{"RAT device value set system", test, obs(ft.RAT, ft.Set("contained[2].identifier[0].system", fhir.SystemRATDeviceShort)), nil},
		{"RAT device dangling", test, obs(ft.RAT, ft.Set("device.reference", "#7")), []string{"reference-dangling@Observation.device.reference"}},
		{"RAT device is patient", test, obs(ft.RAT, ft.Set("device.reference", "#1")), []string{"reference-type@Observation.device.reference"}},
		{"NAAT device with RAT id", test, obs(ft.NAAT, ft.Device(ft.DefaultDevice)), nil},
		{"NAAT without device", test, obs(ft.NAAT, ft.WithoutDevice()), nil},
		{"NAAT device name too long", test, obs(ft.NAAT, ft.Set("contained[2].deviceName[0].name", long)), []string{"text-too-long@Device.deviceName[0].name"}},

		// Performer.
		{"NAAT without performer", test, obs(ft.NAAT, ft.WithoutPerformer()), []string{"performer-name-missing@Observation.performer"}},
		{"NAAT performer without name", test, obs(ft.NAAT, ft.Remove("contained[1].name")), []string{"performer-name-missing@Organization.name"}},
		{"NAAT performer empty reference", test, obs(ft.NAAT, ft.Set("performer[0].reference", "")), []string{
			"required@Observation.performer[0].reference", "performer-name-missing@Observation.performer"}},
		{"RAT without performer", test, obs(ft.RAT, ft.WithoutPerformer()), nil},
		{"facility too long", test, obs(ft.NAAT, ft.Performer(long)), []string{"text-too-long@Organization.name"}},

		// Everything at once: every problem is reported, in document order.
		{"many problems", test, obs(ft.RAT, ft.Identifier("a b"), ft.Status("amended"), ft.PNR("19121212-1212"),
			ft.AtRaw("2026-11-25T09:00:00"), ft.Result(ft.Detected), ft.Device("999999")), []string{
			"identifier-format@Observation.identifier[0].value",
			"status-invalid@Observation.status",
			"personnummer-format@Patient.identifier[0].value",
			"timezone-missing@Observation.effectiveDateTime",
			"test-result-not-allowed@Observation.valueCodeableConcept.coding[0].code",
			"rat-device-unknown@Device.identifier[0].value",
		}},
	}
	return append(cases, vaccinationCases()...)
}

func vaccinationCases() []ruleCase {
	return []ruleCase{
		{"status not-done", vaccination, imm(ft.Comirnaty, ft.Status("not-done")), []string{"status-invalid@Immunization.status"}},
		{"identifier missing", vaccination, imm(ft.Comirnaty, ft.Remove("identifier")), []string{"required@Immunization.identifier[0].value"}},
		{"patient dangling", vaccination, imm(ft.Comirnaty, ft.Set("patient.reference", "#p")), []string{"reference-dangling@Immunization.patient.reference"}},
		{"patient missing", vaccination, imm(ft.Comirnaty, ft.Remove("patient")), []string{"required@Immunization.patient.reference"}},
		{"performer is patient", vaccination, imm(ft.Comirnaty, ft.Set("performer[0].actor.reference", "#1")),
			[]string{"reference-type@Immunization.performer[0].actor.reference"}},
		{"performer empty", vaccination, imm(ft.Comirnaty, ft.Set("performer[0].actor", map[string]any{})),
			[]string{"required@Immunization.performer[0].actor.reference"}},
		{"without performer", vaccination, imm(ft.Comirnaty, ft.WithoutPerformer()), nil},
		{"no personnummer", vaccination, imm(ft.Comirnaty, ft.WithoutPNR(), ft.Name("Ødegård", "Åse"), ft.BirthDate("1974-07-17")), nil},
		{"pnr checksum", vaccination, imm(ft.Comirnaty, ft.PNR(wrongCheckDigit(ft.DefaultPNR))), []string{"personnummer-checksum@Patient.identifier[0].value"}},

		{"product unknown", vaccination, imm(ft.Comirnaty, ft.Set("vaccineCode.coding[0].code", "EU/1/99/0001")),
			[]string{"valueset-unknown@Immunization.vaccineCode.coding[0].code"}},
		{"product inactive", vaccination, imm(ft.Nuvaxovid, ft.Set("vaccineCode.coding[0]", map[string]any{"system": fhir.SystemOtherProduct, "code": "NVX-CoV2373"}),
			ft.Manufacturer("ORG-100032020")), []string{"valueset-inactive@Immunization.vaccineCode.coding[0].code"}},
		{"product missing", vaccination, imm(ft.Spikevax, ft.Remove("vaccineCode.coding[0]")), []string{"required@Immunization.vaccineCode.coding"}},
		{"product ambiguous", vaccination, imm(ft.Comirnaty, ft.Set("vaccineCode.coding[2]", map[string]any{"system": fhir.SystemEUProduct, "code": ft.Spikevax})),
			[]string{"coding-ambiguous@Immunization.vaccineCode.coding[2].code"}},
		{"other product derived", vaccination, imm(ft.Spikevax, ft.Set("vaccineCode.coding[0]", map[string]any{"system": fhir.SystemOtherProduct, "code": "Covishield"}),
			ft.Manufacturer("")), nil},
		{"prophylaxis mismatch", vaccination, imm(ft.Comirnaty, ft.Prophylaxis(fhir.ProphylaxisViralVector)),
			[]string{"vaccine-prophylaxis-mismatch@Immunization.vaccineCode.coding[1].code"}},
		{"prophylaxis generic", vaccination, imm(ft.Comirnaty, ft.Prophylaxis(fhir.ProphylaxisGeneric)), nil},
		{"prophylaxis unknown", vaccination, imm(ft.Comirnaty, ft.Prophylaxis("123456")), []string{"valueset-unknown@Immunization.vaccineCode.coding[1].code"}},
		{"prophylaxis inactive", vaccination, imm(ft.Comirnaty, ft.Prophylaxis(""), ft.Set("vaccineCode.coding[1]", map[string]any{"system": fhir.SystemATC, "code": "J07BX03"})),
			[]string{"valueset-inactive@Immunization.vaccineCode.coding[1].code"}},
		{"manufacturer mismatch", vaccination, imm(ft.Comirnaty, ft.Manufacturer("ORG-100031184")),
			[]string{"vaccine-manufacturer-mismatch@Immunization.manufacturer.identifier.value"}},
		{"manufacturer unknown", vaccination, imm(ft.Comirnaty, ft.Manufacturer("ORG-1")), []string{"valueset-unknown@Immunization.manufacturer.identifier.value"}},

		{"dose 0 of 10", vaccination, imm(ft.Comirnaty, ft.Dose(0, 10)), []string{
			"dose-out-of-range@Immunization.protocolApplied[0].doseNumberPositiveInt",
			"dose-out-of-range@Immunization.protocolApplied[0].seriesDosesPositiveInt"}},
		{"dose 9 of 9", vaccination, imm(ft.Comirnaty, ft.Dose(9, 9)), nil},
		{"booster 2 of 1", vaccination, imm(ft.Jcovden, ft.Dose(2, 1)), nil},
		{"dose string", vaccination, imm(ft.Comirnaty, ft.Set("protocolApplied[0].doseNumberPositiveInt", "2")),
			[]string{"json-type@Immunization.protocolApplied[0].doseNumberPositiveInt"}},
		{"dose fraction", vaccination, imm(ft.Comirnaty, ft.Set("protocolApplied[0].doseNumberPositiveInt", 1.5)),
			[]string{"json-type@Immunization.protocolApplied[0].doseNumberPositiveInt"}},
		{"protocol missing", vaccination, imm(ft.Comirnaty, ft.Remove("protocolApplied")), []string{
			"required@Immunization.protocolApplied[0].doseNumberPositiveInt",
			"required@Immunization.protocolApplied[0].seriesDosesPositiveInt",
			"required@Immunization.protocolApplied[0].targetDisease[0].coding"}},
		{"target disease unknown", vaccination, imm(ft.Comirnaty, ft.Set("protocolApplied[0].targetDisease[0].coding[0].code", "6142004")),
			[]string{"valueset-unknown@Immunization.protocolApplied[0].targetDisease[0].coding[0].code"}},

		{"occurrence missing", vaccination, imm(ft.Comirnaty, ft.Remove("occurrenceDateTime")), []string{"required@Immunization.occurrenceDateTime"}},
		{"occurrence without zone", vaccination, imm(ft.Comirnaty, ft.AtRaw("2026-11-25T09:00:00")), []string{"timezone-missing@Immunization.occurrenceDateTime"}},
		{"occurrence date only", vaccination, imm(ft.Comirnaty, ft.AtRaw("2026-11-25")), []string{"datetime-invalid@Immunization.occurrenceDateTime"}},
		{"occurrence future", vaccination, imm(ft.Comirnaty, ft.At(now.Add(time.Hour))), []string{"datetime-future@Immunization.occurrenceDateTime"}},
		{"long ago", vaccination, imm(ft.Comirnaty, ft.At(time.Date(2021, 6, 1, 10, 0, 0, 0, time.UTC))), nil},
		{"before authorisation", vaccination, imm(ft.Nuvaxovid, ft.AtRaw("2021-12-19T23:30:00+01:00")),
			[]string{"vaccination-before-authorisation@Immunization.occurrenceDateTime"}},
		{"on authorisation day", vaccination, imm(ft.Nuvaxovid, ft.AtRaw("2021-12-20T00:30:00+01:00")), nil},
		{"many problems", vaccination, imm(ft.Vaxzevria, ft.Status("entered-in-error"), ft.Prophylaxis(fhir.ProphylaxisMRNA),
			ft.Manufacturer("ORG-100030215"), ft.Dose(1, 0), ft.AtRaw("2021-01-28T10:00:00+01:00")), []string{
			"status-invalid@Immunization.status",
			"vaccine-prophylaxis-mismatch@Immunization.vaccineCode.coding[1].code",
			"vaccine-manufacturer-mismatch@Immunization.manufacturer.identifier.value",
			"dose-out-of-range@Immunization.protocolApplied[0].seriesDosesPositiveInt",
			"vaccination-before-authorisation@Immunization.occurrenceDateTime",
		}},
	}
}

// wrongCheckDigit returns a 12-digit number with its last digit changed.
func wrongCheckDigit(s string) string {
	return s[:11] + string(rune('0'+(s[11]-'0'+1)%10))
}

// located turns an error from the parser into "code@FHIRPath" strings, checking on the way that
// it is Problems and that every problem is complete.
func located(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	ps, ok := problem.As(err)
	if !ok {
		t.Fatalf("error is not a problem.List: %v", err)
	}
	classes := map[string]problem.Spec{}
	for _, c := range contentCodes() {
		classes[c.Code] = c
	}
	var out []string
	for _, pr := range ps {
		info, known := classes[pr.Code]
		switch {
		case !known:
			t.Errorf("%s: not a content code of the problem table", pr.Code)
		case info.Class != pr.Class || info.IssueType != pr.IssueType:
			t.Errorf("%s: class %v / issue %q, table says %v / %q", pr.Code, pr.Class, pr.IssueType, info.Class, info.IssueType)
		}
		if pr.Text == "" || !strings.HasSuffix(pr.Text, ".") {
			t.Errorf("%s: text %q is not a sentence", pr.Code, pr.Text)
		}
		out = append(out, pr.Code+"@"+pr.Expression)
	}
	return out
}

// latin1 re-encodes a UTF-8 body as ISO-8859-1, as a client that ignores the charset would.
func latin1(body []byte) []byte {
	var out []byte
	for _, r := range string(body) {
		if r > 0xff {
			panic("not Latin-1")
		}
		out = append(out, byte(r))
	}
	return out
}

// duplicateMember puts extra before the first occurrence of member in body (compact JSON).
func duplicateMember(body []byte, member, extra string) []byte {
	s := compact(body)
	i := strings.Index(s, member)
	if i < 0 {
		panic("no " + member)
	}
	return []byte(s[:i] + extra + s[i:])
}

// renameMember replaces the first occurrence of from with to in body (compact JSON).
func renameMember(body []byte, from, to string) []byte {
	s := compact(body)
	if !strings.Contains(s, from) {
		panic("no " + from)
	}
	return []byte(strings.Replace(s, from, to, 1))
}

func compact(body []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, body); err != nil {
		panic(err)
	}
	return b.String()
}

// TestStrictMessages: the texts name what was found.
func TestStrictMessages(t *testing.T) {
	p := newParser(now)
	for _, tc := range []struct {
		body []byte
		want string
	}{
		{append([]byte("\xef\xbb\xbf"), obs(ft.NAAT)...), "byte-order mark"},
		{latin1(obs(ft.NoPNR, ft.Name("Öberg", "Åsa"))), "ISO-8859-1"},
		{renameMember(obs(ft.NAAT), `"status"`, `"Status"`), `send "status"`},
	} {
		_, err := p.Test(tc.body)
		probs, _ := problem.As(err)
		if len(probs) != 1 || !strings.Contains(probs[0].Text, tc.want) {
			t.Errorf("want %q in %+v", tc.want, probs)
		}
	}
}

// TestInvisibleCharacterNamed: the answer names the character and where it stands.
func TestInvisibleCharacterNamed(t *testing.T) {
	_, err := newParser(now).Test(obs(ft.NAAT, ft.Performer("Provtagni\u202eng Syd")))
	p, ok := problem.As(err)
	if !ok || len(p) != 1 || !strings.Contains(p[0].Text, "U+202E at position 10") {
		t.Fatalf("%v: %+v", err, p)
	}
}

func TestDomainValues(t *testing.T) {
	p := newParser(now)

	naat, err := p.Test(obs(ft.NAAT))
	if err != nil {
		t.Fatal(err)
	}
	want := fhir.TestResult{
		Identifier: "LAB-2022-0214-00173",
		Subject:    fhir.Subject{PNR: pnr.MustParse(ft.DefaultPNR, pnr.Personnummer)},
		TestType:   fhir.TestTypeNAAT, Disease: fhir.DiseaseCOVID19, Result: fhir.ResultNotDetected,
		SampledAt:  now.Add(-20 * time.Hour),
		Facility:   "Provtagningen Stockholm City",
		DeviceName: "Roche, cobas SARS-CoV-2 Test",
	}
	if naat.Subject.PNR.Digits() != want.Subject.PNR.Digits() || naat.Subject.PNR.Kind() != pnr.Personnummer {
		t.Errorf("PNR %v", naat.Subject.PNR)
	}
	naat.Subject.PNR, want.Subject.PNR = pnr.Number{}, pnr.Number{}
	if !naat.SampledAt.Equal(want.SampledAt) {
		t.Errorf("SampledAt %v, want %v", naat.SampledAt, want.SampledAt)
	}
	naat.SampledAt = want.SampledAt
	if naat != want {
		t.Errorf("NAAT\n got %+v\nwant %+v", naat, want)
	}

	rat, err := p.Test(obs(ft.RAT, ft.TestData()))
	if err != nil {
		t.Fatal(err)
	}
	if rat.TestType != fhir.TestTypeRAT || rat.DeviceID != "1232" || rat.DeviceName != "" || !rat.TestData || rat.Facility != "Snabbtest Arlanda Terminal 5" {
		t.Errorf("RAT %+v", rat)
	}

	nopnr, err := p.Test(obs(ft.NoPNR))
	if err != nil {
		t.Fatal(err)
	}
	if !nopnr.Subject.PNR.IsZero() || nopnr.Subject.FamilyName != "Ødegård" || nopnr.Subject.GivenName != "Åse Marie" || nopnr.Subject.BirthDate != "1974-07-17" {
		t.Errorf("no-pnr subject %+v", nopnr.Subject)
	}

	claim, err := p.Test(obs(ft.NAAT, ft.Name(" Tolvansson ", "Tolvan", " ", "Tolvsson"), ft.BirthDate("1912-12-12")))
	if err != nil {
		t.Fatal(err)
	}
	if claim.Subject.PNR.IsZero() || claim.Subject.FamilyName != "Tolvansson" || claim.Subject.GivenName != "Tolvan Tolvsson" || claim.Subject.BirthDate != "1912-12-12" {
		t.Errorf("claim %+v", claim.Subject)
	}

	snr, err := p.Test(obs(ft.NAAT, ft.Samordningsnummer(ft.MakeSamordningsnummer("19900115", "238"))))
	if err != nil {
		t.Fatal(err)
	}
	if snr.Subject.PNR.Kind() != pnr.Samordningsnummer || snr.Subject.PNR.BirthDate().Format(time.DateOnly) != "1990-01-15" {
		t.Errorf("samordningsnummer %v %v", snr.Subject.PNR.Kind(), snr.Subject.PNR.BirthDate())
	}

	rec, err := p.Recovery(obs(ft.Recovery))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Result != fhir.ResultDetected || rec.TestType != fhir.TestTypeNAAT || !rec.SampledAt.Equal(now.AddDate(0, 0, -30)) {
		t.Errorf("recovery %+v", rec)
	}

	for _, tc := range []struct {
		product, ma, vp string
		dn, sd          int
	}{
		{ft.Comirnaty, "ORG-100030215", fhir.ProphylaxisMRNA, 2, 2},
		{ft.Spikevax, "ORG-100031184", fhir.ProphylaxisMRNA, 3, 3}, // vp derived
		{ft.Vaxzevria, "ORG-100001699", fhir.ProphylaxisViralVector, 1, 2},
		{ft.Jcovden, "ORG-100001417", fhir.ProphylaxisViralVector, 1, 1},
		{ft.Nuvaxovid, "ORG-100032020", fhir.ProphylaxisProteinSubunit, 2, 2}, // ma derived
	} {
		v, err := p.Vaccination(imm(tc.product))
		if err != nil {
			t.Fatalf("%s: %v", tc.product, err)
		}
		if v.Product != tc.product || v.Manufacturer != tc.ma || v.Prophylaxis != tc.vp || v.Dose != tc.dn || v.Series != tc.sd ||
			v.Disease != fhir.DiseaseCOVID19 || v.Facility != "Vaccinationscentralen Nordstan" || v.Subject.PNR.IsZero() ||
			!v.OccurredAt.Equal(now.Add(-40*time.Minute)) || v.TestData || v.Booster() {
			t.Errorf("%s: %+v", tc.product, v)
		}
	}
	booster, err := p.Vaccination(imm(ft.Jcovden, ft.Dose(2, 1)))
	if err != nil || !booster.Booster() {
		t.Errorf("2/1 booster: %+v %v", booster, err)
	}
	other, err := p.Vaccination(imm(ft.Spikevax, ft.Set("vaccineCode.coding[0]", map[string]any{"system": fhir.SystemOtherProduct, "code": "Covishield"}), ft.Manufacturer("")))
	if err != nil || other.Manufacturer != "ORG-100001981" || other.Prophylaxis != fhir.ProphylaxisViralVector {
		t.Errorf("Covishield: %+v %v", other, err)
	}
}

func TestTestDataMarks(t *testing.T) {
	p := newParser(now)
	htest := map[string]any{"system": fhir.SystemActReason, "code": "HTEST"}
	for _, tc := range []struct {
		name string
		body []byte
		want bool
	}{
		{"none", obs(ft.NAAT), false},
		{"meta.tag", obs(ft.NAAT, ft.TestData()), true},
		{"meta.security", obs(ft.NAAT, ft.Set("meta.security[0]", htest)), true},
		{"on the Patient", obs(ft.NAAT, ft.Set("contained[0].meta.tag[0]", htest)), true},
		{"other system", obs(ft.NAAT, ft.Set("meta.tag[0]", map[string]any{"system": "urn:x", "code": "HTEST"})), false},
		{"other code", obs(ft.NAAT, ft.Set("meta.tag[0]", map[string]any{"system": fhir.SystemActReason, "code": "HRESCH"})), false},
	} {
		res, err := p.Test(tc.body)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if res.TestData != tc.want {
			t.Errorf("%s: TestData %v", tc.name, res.TestData)
		}
	}
	v, err := p.Vaccination(imm(ft.Comirnaty, ft.TestData()))
	if err != nil || !v.TestData {
		t.Errorf("immunization HTEST: %v %v", v.TestData, err)
	}
}

// TestLenient shows that what the service does not use may take any shape: the Swedish FHIR
// guide's examples send meta.profile as a string and carry ids, display texts and uses.
func TestLenient(t *testing.T) {
	p := newParser(now)
	body := obs(ft.RAT,
		ft.Set("id", "RAT1PNR"),
		ft.Set("meta.profile", "http://electronichealth.se/fhir/StructureDefinition/CovidBevisObservationNegTest"),
		ft.Set("contained[0].meta.profile", "http://electronichealth.se/fhir/StructureDefinition/CovidBevisPatient"),
		ft.Set("identifier[0].use", "temp"),
		ft.Set("text", map[string]any{"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}),
		ft.Set("extension", []any{map[string]any{"url": "urn:x", "valueString": "y"}}),
		ft.Set("code.text", "COVID-19 antigen"),
	)
	if _, err := p.Test(body); err != nil {
		t.Fatal(err)
	}
}

// TestRetime shows how tests elsewhere use the committed fixtures at their own clock.
func TestRetime(t *testing.T) {
	body := ft.Retime(ft.Observation(ft.RAT, ft.Now(ft.FixtureNow)), now.Add(-time.Hour))
	if _, err := newParser(now).Test(body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), fmt.Sprintf(`"effectiveDateTime": %q`, now.Add(-time.Hour).Format(time.RFC3339))) {
		t.Fatalf("not retimed:\n%s", body)
	}
}

func TestProblemsLocated(t *testing.T) {
	_, err := newParser(now).Test(obs(ft.NAAT, ft.PNR("19121212-1212"), ft.AtRaw("2026-11-25T09:00:00")))
	ps, _ := problem.As(err)
	if len(ps) != 2 || ps[0].IssueType != "value" || ps[0].Code != problem.CodePersonnummerFormat ||
		ps[0].Expression != "Patient.identifier[0].value" {
		t.Fatalf("%+v", ps)
	}
	if !strings.Contains(ps[0].Text, "YYYYMMDDNNNN") || !strings.Contains(ps[0].Text, "191212121212") {
		t.Errorf("personnummer text %q", ps[0].Text)
	}
	if strings.Contains(err.Error(), "19121212-1212") || strings.Contains(ps[0].Text, "19121212-1212") {
		t.Errorf("the sent number is echoed")
	}
	if ps.Class() != problem.ClassInvalid {
		t.Errorf("class %v", ps.Class())
	}
}

// contentCodes are the codes of the problem table that this package raises.
func contentCodes() []problem.Spec {
	var out []problem.Spec
	for _, s := range problem.Specs() {
		if s.Origin == problem.OriginContent {
			out = append(out, s)
		}
	}
	return out
}

// Texts that point at the real cause: the common near-misses of a date-time and of a
// personnummer are named, with the form expected.
func TestCauseTexts(t *testing.T) {
	p := newParser(now)
	sampled := now.Add(-2 * time.Hour).In(time.FixedZone("CET", 3600))
	day, hm := sampled.Format("2006-01-02"), sampled.Format("15:04")
	cases := []struct {
		name, code string
		body       []byte
		want, not  []string // substrings the text has, and must not have
	}{
		{"offset without colon", "datetime-invalid", obs(ft.NAAT, ft.AtRaw(day+"T"+hm+":00+0100")),
			[]string{"+01:00 rather than +0100"}, []string{"seconds"}},
		{"no seconds", "datetime-invalid", obs(ft.NAAT, ft.AtRaw(day+"T"+hm+"+01:00")),
			[]string{"hh:mm:ss"}, []string{"colon"}},
		{"no seconds, offset without colon", "datetime-invalid", obs(ft.NAAT, ft.AtRaw(day+"T"+hm+"+0100")),
			[]string{"+01:00 rather than +0100", "hh:mm:ss"}, nil},
		{"no zone, no seconds", "timezone-missing", obs(ft.NAAT, ft.AtRaw(day+"T"+hm)),
			[]string{"time zone and the seconds"}, nil},
		{"10 digits with hyphen", "personnummer-format", obs(ft.NAAT, ft.PNR("121212-1212")),
			[]string{"10-digit form", "century", "12 digits YYYYMMDDNNNN", "121212-1212"}, []string{"100 or more"}},
		{"10 digits", "personnummer-format", obs(ft.NAAT, ft.PNR("1212121212")),
			[]string{"10-digit form", "century"}, nil},
		{"10 digits with plus", "personnummer-format", obs(ft.NAAT, ft.PNR("121212+1212")),
			[]string{"aged 100 or more", "century", "12 digits"}, nil},
		{"12 digits with plus", "personnummer-format", obs(ft.NAAT, ft.PNR("19121212+1212")),
			[]string{"Leave out the \"+\"", "12 digits YYYYMMDDNNNN"}, nil},
		{"12 digits with hyphen", "personnummer-format", obs(ft.NAAT, ft.PNR("19121212-1212")),
			[]string{"without hyphen"}, []string{"10-digit"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(p, test, tc.body)
			l, ok := problem.As(err)
			if !ok || len(l) != 1 || l[0].Code != tc.code {
				t.Fatalf("problems %v, want one %s", err, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(l[0].Text, w) {
					t.Errorf("text %q does not say %q", l[0].Text, w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(l[0].Text, w) {
					t.Errorf("text %q says %q", l[0].Text, w)
				}
			}
		})
	}
}
