package fhir

import (
	"strings"
	"testing"
	"time"

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

func TestLocate(t *testing.T) {
	raw := []byte(`{"a": [1, {"b": "x", "c": [true, {"d": 5}]}], "e": {"f": null}}`)
	for _, tc := range []struct {
		at   string
		want string
	}{
		{`1,`, ".a[0]"},
		{`"x"`, ".a[1].b"},
		{`true`, ".a[1].c[0]"},
		{`5}`, ".a[1].c[1].d"},
		{`{"f"`, ".e"},
		{`null`, ".e.f"},
	} {
		i := strings.Index(string(raw), tc.at)
		end := int64(i + len(strings.TrimRight(tc.at, ",}")))
		if strings.HasPrefix(tc.at, "{") {
			end = int64(i + 1)
		}
		if got := locate(raw, end); got != tc.want {
			t.Errorf("locate at %d (%s) = %q, want %q", end, tc.at, got, tc.want)
		}
	}
	if got := locate([]byte(`{`), 100); got != "" {
		t.Errorf("past the end: %q", got)
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
