// Package dcc holds the EU Digital COVID Certificate payload (schema 1.3.x) as Go values, its
// schema limits, its value-set checks and the ICAO 9303 transliteration of names.
package dcc

// SchemaVersion is the payload schema version this package produces.
const SchemaVersion = "1.3.0"

// Certificate is the DCC payload, the value of claim hcert (-260) key 1. Exactly one of
// Vaccination, Test and Recovery holds exactly one entry.
type Certificate struct {
	Version     string        `json:"ver" cbor:"ver"`
	Name        Name          `json:"nam" cbor:"nam"`
	DateOfBirth string        `json:"dob" cbor:"dob"` // YYYY-MM-DD, YYYY-MM, YYYY or empty
	Vaccination []Vaccination `json:"v,omitempty" cbor:"v,omitempty"`
	Test        []Test        `json:"t,omitempty" cbor:"t,omitempty"`
	Recovery    []Recovery    `json:"r,omitempty" cbor:"r,omitempty"`
}

// Name is the holder's name as written and standardised (ICAO 9303, see Transliterate).
type Name struct {
	FamilyName             string `json:"fn,omitempty" cbor:"fn,omitempty"`
	FamilyNameStandardised string `json:"fnt,omitempty" cbor:"fnt,omitempty"`
	GivenName              string `json:"gn,omitempty" cbor:"gn,omitempty"`
	GivenNameStandardised  string `json:"gnt,omitempty" cbor:"gnt,omitempty"`
}

// Vaccination is one vaccination entry ("v").
type Vaccination struct {
	Disease      string `json:"tg" cbor:"tg"` // disease-agent-targeted
	Vaccine      string `json:"vp" cbor:"vp"` // sct-vaccines-covid-19
	Product      string `json:"mp" cbor:"mp"` // vaccines-covid-19-names
	Manufacturer string `json:"ma" cbor:"ma"` // vaccines-covid-19-auth-holders
	DoseNumber   int    `json:"dn" cbor:"dn"`
	TotalDoses   int    `json:"sd" cbor:"sd"`
	Date         string `json:"dt" cbor:"dt"` // YYYY-MM-DD
	Country      string `json:"co" cbor:"co"` // country-2-codes
	Issuer       string `json:"is" cbor:"is"`
	ID           string `json:"ci" cbor:"ci"` // UVCI
}

// Test is one test entry ("t").
type Test struct {
	Disease         string `json:"tg" cbor:"tg"`                     // disease-agent-targeted
	Type            string `json:"tt" cbor:"tt"`                     // covid-19-lab-test-type
	Name            string `json:"nm,omitempty" cbor:"nm,omitempty"` // NAAT test name
	Device          string `json:"ma,omitempty" cbor:"ma,omitempty"` // RAT device, covid-19-lab-test-manufacturer-and-name
	SampleCollected string `json:"sc" cbor:"sc"`                     // RFC 3339 date-time
	Result          string `json:"tr" cbor:"tr"`                     // covid-19-lab-result
	Centre          string `json:"tc,omitempty" cbor:"tc,omitempty"`
	Country         string `json:"co" cbor:"co"` // country-2-codes
	Issuer          string `json:"is" cbor:"is"`
	ID              string `json:"ci" cbor:"ci"` // UVCI
}

// Recovery is one recovery entry ("r").
type Recovery struct {
	Disease       string `json:"tg" cbor:"tg"` // disease-agent-targeted
	FirstPositive string `json:"fr" cbor:"fr"` // YYYY-MM-DD
	Country       string `json:"co" cbor:"co"` // country-2-codes
	Issuer        string `json:"is" cbor:"is"`
	ValidFrom     string `json:"df" cbor:"df"` // YYYY-MM-DD
	ValidUntil    string `json:"du" cbor:"du"` // YYYY-MM-DD
	ID            string `json:"ci" cbor:"ci"` // UVCI
}

// Kind says which group a certificate carries.
type Kind int

// The certificate kinds.
const (
	KindUnknown Kind = iota
	KindVaccination
	KindTest
	KindRecovery
)

// String returns the kind's name: "vaccination", "test", "recovery" or "unknown".
func (k Kind) String() string {
	switch k {
	case KindVaccination:
		return "vaccination"
	case KindTest:
		return "test"
	case KindRecovery:
		return "recovery"
	}
	return "unknown"
}

// Kind returns the kind of the certificate, or KindUnknown unless exactly one group is present.
func (c *Certificate) Kind() Kind {
	n, k := 0, KindUnknown
	if len(c.Vaccination) > 0 {
		n, k = n+1, KindVaccination
	}
	if len(c.Test) > 0 {
		n, k = n+1, KindTest
	}
	if len(c.Recovery) > 0 {
		n, k = n+1, KindRecovery
	}
	if n != 1 {
		return KindUnknown
	}
	return k
}

// ID returns the UVCI of the certificate's single entry, or "" when it has none.
func (c *Certificate) ID() string {
	switch {
	case len(c.Vaccination) > 0:
		return c.Vaccination[0].ID
	case len(c.Test) > 0:
		return c.Test[0].ID
	case len(c.Recovery) > 0:
		return c.Recovery[0].ID
	}
	return ""
}
