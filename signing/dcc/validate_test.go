package dcc

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sedcc/dcc/signing/dcc/dccschema"
	"github.com/sedcc/dcc/signing/valueset"
)

// Sample payloads of each kind, valid against the schema and the value sets.
func sampleVaccination() Certificate {
	return Certificate{
		Version:     SchemaVersion,
		Name:        Name{FamilyName: "Lövström", FamilyNameStandardised: "LOEVSTROEM", GivenName: "Oscar", GivenNameStandardised: "OSCAR"},
		DateOfBirth: "1958-11-11",
		Vaccination: []Vaccination{{
			Disease: "840539006", Vaccine: "J07BX03", Product: "EU/1/21/1529", Manufacturer: "ORG-100030215",
			DoseNumber: 2, TotalDoses: 2, Date: "2021-05-18", Country: "SE",
			Issuer: "Swedish eHealth Agency", ID: "URN:UVCI:01:SE:EHM/V100000024GI5HM",
		}},
	}
}

func sampleTest() Certificate {
	return Certificate{
		Version:     SchemaVersion,
		Name:        Name{FamilyName: "Müller", FamilyNameStandardised: "MUELLER", GivenName: "Åsa", GivenNameStandardised: "AASA"},
		DateOfBirth: "1990-01",
		Test: []Test{{
			Disease: "840539006", Type: "LP217198-3", Device: "1232", SampleCollected: "2021-05-30T10:12:22+02:00",
			Result: "260415000", Centre: "Testcenter Stockholm", Country: "SE",
			Issuer: "Swedish eHealth Agency", ID: "URN:UVCI:01:SE:EHM/TSTAX67554312",
		}},
	}
}

func sampleRecovery() Certificate {
	return Certificate{
		Version:     SchemaVersion,
		Name:        Name{GivenName: "Éloïse", GivenNameStandardised: "ELOISE"},
		DateOfBirth: "",
		Recovery: []Recovery{{
			Disease: "840539006", FirstPositive: "2021-04-01", Country: "SE", Issuer: "Swedish eHealth Agency",
			ValidFrom: "2021-04-12", ValidUntil: "2021-09-28", ID: "URN:UVCI:01:SE:EHM/R987765321",
		}},
	}
}

func TestValidateSamples(t *testing.T) {
	schema, err := dccschema.Compile()
	if err != nil {
		t.Fatal(err)
	}
	cat := valueset.MustLoad()
	for _, c := range []Certificate{sampleVaccination(), sampleTest(), sampleRecovery()} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", c.Kind(), err)
		}
		if err := c.ValidateCodes(cat); err != nil {
			t.Errorf("%s: ValidateCodes: %v", c.Kind(), err)
		}
		if err := schema.Validate(c); err != nil {
			t.Errorf("%s: schema: %v", c.Kind(), err)
		}
	}
}

// The official examples decode into Certificate without loss, pass Validate and re-encode to
// JSON that still validates against the schema.
func TestOfficialExamples(t *testing.T) {
	schema, err := dccschema.Compile()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("testdata/examples/*/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var c Certificate
		if err := dec.Decode(&c); err != nil {
			t.Errorf("%s: decode: %v", f, err)
			continue
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", f, err)
		}
		if err := schema.Validate(c); err != nil {
			t.Errorf("%s: schema after round trip: %v", f, err)
		}
		var a, b any
		out, _ := json.Marshal(c)
		_ = json.Unmarshal(raw, &a)
		_ = json.Unmarshal(out, &b)
		if !jsonEqual(a, b) {
			t.Errorf("%s: JSON round trip changed the payload:\n%s\n%s", f, raw, out)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestValidateProblems(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Certificate)
		field  string
		code   string
	}{
		{"version", func(c *Certificate) { c.Version = "1.3" }, "ver", CodePattern},
		{"no version", func(c *Certificate) { c.Version = "" }, "ver", CodeRequired},
		{"fnt lower case", func(c *Certificate) { c.Name.FamilyNameStandardised = "Loevstroem" }, "nam.fnt", CodePattern},
		{"gnt too long", func(c *Certificate) { c.Name.GivenNameStandardised = strings.Repeat("A", 81) }, "nam.gnt", CodeMaxLength},
		{"fn too long", func(c *Certificate) { c.Name.FamilyName = strings.Repeat("Ö", 81) }, "nam.fn", CodeMaxLength},
		{"no standardised name", func(c *Certificate) { c.Name.FamilyNameStandardised, c.Name.GivenNameStandardised = "", "" }, "nam.fnt", CodeRequired},
		{"dob 1899", func(c *Certificate) { c.DateOfBirth = "1899-01-01" }, "dob", CodePattern},
		{"dob with time", func(c *Certificate) { c.DateOfBirth = "1958-11-11T00:00:00" }, "dob", CodePattern},
		{"two groups", func(c *Certificate) { c.Test = sampleTest().Test }, "v|t|r", CodeGroup},
		{"two entries", func(c *Certificate) { c.Vaccination = append(c.Vaccination, c.Vaccination[0]) }, "v", CodeGroup},
		{"dose 0", func(c *Certificate) { c.Vaccination[0].DoseNumber = 0 }, "v[0].dn", CodeMinimum},
		{"series 0", func(c *Certificate) { c.Vaccination[0].TotalDoses = 0 }, "v[0].sd", CodeMinimum},
		{"date", func(c *Certificate) { c.Vaccination[0].Date = "2021-02-30" }, "v[0].dt", CodeDate},
		{"date format", func(c *Certificate) { c.Vaccination[0].Date = "18.05.2021" }, "v[0].dt", CodeDate},
		{"country", func(c *Certificate) { c.Vaccination[0].Country = "se" }, "v[0].co", CodePattern},
		{"issuer", func(c *Certificate) { c.Vaccination[0].Issuer = strings.Repeat("x", 81) }, "v[0].is", CodeMaxLength},
		{"uvci", func(c *Certificate) { c.Vaccination[0].ID = strings.Repeat("X", 81) }, "v[0].ci", CodeMaxLength},
		{"no uvci", func(c *Certificate) { c.Vaccination[0].ID = "" }, "v[0].ci", CodeRequired},
		{"no product", func(c *Certificate) { c.Vaccination[0].Product = "" }, "v[0].mp", CodeRequired},
	}
	schema, err := dccschema.Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		cert := sampleVaccination()
		cert.Vaccination = append([]Vaccination(nil), cert.Vaccination...)
		c.mutate(&cert)
		err := cert.Validate()
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: Validate = %v, want a *ValidationError", c.name, err)
			continue
		}
		found := false
		for _, p := range ve.Problems {
			if p.Field == c.field && p.Code == c.code {
				found = true
			}
		}
		var fe *FieldError
		if !found || !errors.As(err, &fe) {
			t.Errorf("%s: problems %v, want %s %s", c.name, err, c.field, c.code)
		}
		// Validate never accepts what the schema rejects; the reverse holds except where
		// Validate is deliberately stricter (empty required strings).
		if schemaErr := schema.Validate(cert); schemaErr == nil && c.code != CodeRequired && c.code != CodeDate {
			t.Errorf("%s: schema accepts what Validate rejects", c.name)
		}
	}
}

func TestValidateTestAndRecoveryFields(t *testing.T) {
	tc := sampleTest()
	tc.Test[0].SampleCollected = "2021-05-30T10:12:22" // no offset
	tc.Test[0].Centre = strings.Repeat("c", 81)
	err := tc.Validate()
	for _, want := range []string{"t[0].sc", "t[0].tc"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want a problem with %s", err, want)
		}
	}
	rc := sampleRecovery()
	rc.Recovery[0].ValidUntil = "2021-13-01"
	if err := rc.Validate(); err == nil || !strings.Contains(err.Error(), "r[0].du") {
		t.Errorf("Validate = %v, want a problem with r[0].du", err)
	}
}

func TestValidateCodes(t *testing.T) {
	cat := valueset.MustLoad()
	c := sampleTest()
	c.Test[0].Device = "99999"
	c.Test[0].Result = "1"
	err := c.ValidateCodes(cat)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 || ve.Problems[0].Code != CodeValueSet {
		t.Fatalf("ValidateCodes = %v, want two value-set problems", err)
	}
	v := sampleVaccination()
	v.Vaccination[0].Country = "XX"
	if err := v.ValidateCodes(cat); err == nil || !strings.Contains(err.Error(), "v[0].co") {
		t.Errorf("ValidateCodes = %v, want v[0].co", err)
	}
}

func TestKind(t *testing.T) {
	if k := sampleVaccination(); k.Kind() != KindVaccination || k.ID() == "" {
		t.Error("vaccination kind")
	}
	if k := sampleTest(); k.Kind() != KindTest {
		t.Error("test kind")
	}
	if k := sampleRecovery(); k.Kind() != KindRecovery {
		t.Error("recovery kind")
	}
	var empty Certificate
	if empty.Kind() != KindUnknown || empty.Kind().String() != "unknown" {
		t.Error("empty kind")
	}
}

// The hand-written pattern checks agree with the schema's regular expressions (anchored where
// the schema forgot to, dots literal in the version).
func TestPatternsMatchSchema(t *testing.T) {
	dob := regexp.MustCompile(`^((19|20)\d\d(-\d\d){0,2}){0,1}$`)
	std := regexp.MustCompile(`^[A-Z<]*$`)
	country := regexp.MustCompile(`^[A-Z]{1,10}$`)
	version := regexp.MustCompile(`^\d+\.\d+\.\d+$`)
	inputs := []string{"", "1958", "1958-11", "1958-11-11", "1899", "2100-01-01", "19581111", "1958-1-11",
		"1958-11-11-11", "2099-99-99", "20a1", "ABC<D", "abc", "Å", "SE", "ABCDEFGHIJK", "A1", "1.3.0",
		"1.3", "12345", "1.3.0.1", "01.2.3", "1..3", "1.3.x", "a.b.c", "XK", "<<"}
	for _, s := range inputs {
		if validDOB(s) != dob.MatchString(s) {
			t.Errorf("validDOB(%q) = %v, schema pattern says %v", s, validDOB(s), !validDOB(s))
		}
		if validStandardised(s) != std.MatchString(s) {
			t.Errorf("validStandardised(%q) disagrees", s)
		}
		if validCountry(s) != country.MatchString(s) {
			t.Errorf("validCountry(%q) disagrees", s)
		}
		if validVersion(s) != version.MatchString(s) {
			t.Errorf("validVersion(%q) disagrees", s)
		}
	}
}
