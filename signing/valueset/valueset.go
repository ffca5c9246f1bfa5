// Package valueset holds the EU DCC value sets (release 2.12.0) that every coded field of a
// certificate must come from, and answers whether a code belongs to one.
//
// The JSON files under data/ are unchanged copies of ehn-dcc-development/eu-dcc-valuesets at
// commit 60ea3d8643b004a5b9d44a698e223775d5916916 (licence in data/LICENSE).
package valueset

import (
	"embed"
	"encoding/json"
	"fmt"
	"sort"
)

// Identifiers of the value sets, as the schema names them.
const (
	TestType            = "covid-19-lab-test-type"                  // t.tt
	TestResult          = "covid-19-lab-result"                     // t.tr
	TestManufacturer    = "covid-19-lab-test-manufacturer-and-name" // t.ma (EU RAT list)
	DiseaseAgent        = "disease-agent-targeted"                  // tg
	VaccineProphylaxis  = "sct-vaccines-covid-19"                   // v.vp
	VaccineProduct      = "vaccines-covid-19-names"                 // v.mp
	VaccineManufacturer = "vaccines-covid-19-auth-holders"          // v.ma
	Country             = "country-2-codes"                         // co
)

//go:embed data/*.json
var files embed.FS

// Value is one entry of a value set.
type Value struct {
	Code    string
	Display string `json:"display"`
	Active  bool   `json:"active"`
	System  string `json:"system"`
	Version string `json:"version"`
}

// Set is one value set.
type Set struct {
	ID     string
	Date   string
	values map[string]Value
}

// Lookup returns the entry for code and whether the set holds it at all (active or not).
func (s *Set) Lookup(code string) (Value, bool) {
	v, ok := s.values[code]
	return v, ok
}

// Codes returns the set's codes in sorted order.
func (s *Set) Codes() []string {
	out := make([]string, 0, len(s.values))
	for c := range s.values {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// EncodingInstruction ties an authorised vaccine product to its authorisation holder and the
// vaccine-prophylaxis codes it may be encoded with (vaccine-encoding-instructions.json).
type EncodingInstruction struct {
	Name         string
	Product      string   `json:"vaccine-code"`
	Manufacturer string   `json:"vaccine-manufacturer"`
	Prophylaxis  []string `json:"sct-codes"`
	Note         string   `json:"note"`
}

// Catalogue is every value set plus the vaccine encoding instructions.
type Catalogue struct {
	sets         map[string]*Set
	instructions map[string]EncodingInstruction // by product code
}

// Load parses the embedded value sets. It fails only if the embedded data is broken.
func Load() (*Catalogue, error) {
	c := &Catalogue{sets: map[string]*Set{}, instructions: map[string]EncodingInstruction{}}
	entries, err := files.ReadDir("data")
	if err != nil {
		return nil, fmt.Errorf("read embedded value sets: %w", err)
	}
	for _, e := range entries {
		raw, err := files.ReadFile("data/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", e.Name(), err)
		}
		if e.Name() == "vaccine-encoding-instructions.json" {
			var doc struct {
				Values map[string]EncodingInstruction `json:"valueSetValues"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				return nil, fmt.Errorf("parse %s: %w", e.Name(), err)
			}
			for name, in := range doc.Values {
				in.Name = name
				c.instructions[in.Product] = in
			}
			continue
		}
		var doc struct {
			ID     string           `json:"valueSetId"`
			Date   string           `json:"valueSetDate"`
			Values map[string]Value `json:"valueSetValues"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("parse %s: %w", e.Name(), err)
		}
		s := &Set{ID: doc.ID, Date: doc.Date, values: make(map[string]Value, len(doc.Values))}
		for code, v := range doc.Values {
			v.Code = code
			s.values[code] = v
		}
		c.sets[doc.ID] = s
	}
	return c, nil
}

// MustLoad is Load for program wiring and tests, where broken embedded data is a build defect.
func MustLoad() *Catalogue {
	c, err := Load()
	if err != nil {
		panic(err)
	}
	return c
}

// Set returns the value set with the given identifier, or nil.
func (c *Catalogue) Set(id string) *Set { return c.sets[id] }

// Contains reports whether code is in value set id, and whether it is active there.
func (c *Catalogue) Contains(id, code string) (found, active bool) {
	s := c.sets[id]
	if s == nil {
		return false, false
	}
	v, ok := s.values[code]
	return ok, ok && v.Active
}

// Instruction returns the encoding instruction for a vaccine product code.
func (c *Catalogue) Instruction(product string) (EncodingInstruction, bool) {
	in, ok := c.instructions[product]
	return in, ok
}
