package fhir

import (
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/sedcc/dcc/registry/pnr"
	"github.com/sedcc/dcc/signing/valueset"
)

// The numbers shown in texts are valid.
func TestExamplesValid(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	if _, err := pnr.Parse(examplePersonnummer, pnr.Personnummer, now); err != nil {
		t.Error(err)
	}
	if _, err := pnr.Parse(exampleSamordningsnummer, pnr.Samordningsnummer, now); err != nil {
		t.Error(err)
	}
}

// The authorised-product table agrees with the EU value sets and encoding instructions, and every
// active product can be derived from.
func TestVaccineTable(t *testing.T) {
	c := valueset.MustLoad()
	for _, v := range AuthorisedVaccines() {
		in, ok := c.Instruction(v.Product)
		if !ok {
			t.Errorf("%s: no encoding instruction", v.Name)
			continue
		}
		if found, active := c.Contains(valueset.VaccineProduct, v.Product); !found || !active {
			t.Errorf("%s: product %s not active", v.Name, v.Product)
		}
		if in.Manufacturer != v.Manufacturer {
			t.Errorf("%s: manufacturer %s, instructions say %s", v.Name, v.Manufacturer, in.Manufacturer)
		}
		if !contains(in.Prophylaxis, v.Prophylaxis) {
			t.Errorf("%s: prophylaxis %s not in %v", v.Name, v.Prophylaxis, in.Prophylaxis)
		}
		if _, err := time.Parse(time.DateOnly, v.Authorised); err != nil {
			t.Errorf("%s: %v", v.Name, err)
		}
	}
	p := NewParser(Options{Values: c})
	for _, code := range c.Set(valueset.VaccineProduct).Codes() {
		if _, active := c.Contains(valueset.VaccineProduct, code); !active {
			continue
		}
		r := p.rulesFor(code)
		if !r.known || r.derived == "" || r.manufacturer == "" {
			t.Errorf("active product %s: %+v", code, r)
		}
		if found, active := c.Contains(valueset.VaccineManufacturer, r.manufacturer); !found || !active {
			t.Errorf("product %s: holder %s not in the value set", code, r.manufacturer)
		}
	}
}

func TestPointerPath(t *testing.T) {
	for _, tc := range []struct {
		ptr  jsontext.Pointer
		want string
	}{
		{"", "Observation"},
		{"/a/0", "Observation.a[0]"},
		{"/a/1/b", "Observation.a[1].b"},
		{"/contained/2/deviceName/0/name", "Observation.contained[2].deviceName[0].name"},
	} {
		if got := pointerPath("Observation", tc.ptr); got != tc.want {
			t.Errorf("pointerPath(%q) = %q, want %q", tc.ptr, got, tc.want)
		}
	}
}

func TestQuote(t *testing.T) {
	long := strings.Repeat("å", 50)
	if q := quote(long); !strings.HasSuffix(q, `…"`) || len([]rune(q)) != 43 {
		t.Errorf("quote(long) = %s", q)
	}
	if q := quote("a\nb"); q != `"a\nb"` {
		t.Errorf("quote = %s", q)
	}
}
