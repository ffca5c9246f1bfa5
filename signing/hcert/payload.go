package hcert

import (
	"fmt"
	"math"

	"github.com/sedcc/dcc/signing/dcc"
)

// DecodePayload reads a DCC payload (the CBOR of hcert key 1) into dcc.Certificate. Where the
// schema has an integer (dn, sd), a CBOR float with an integral value is accepted as that
// integer, since JSON Schema's integer accepts 1.0 and several national encoders write one.
func DecodePayload(raw []byte) (dcc.Certificate, error) {
	c, err := codecs()
	if err != nil {
		return dcc.Certificate{}, err
	}
	var w payloadWire
	if err := c.dec.Unmarshal(raw, &w); err != nil {
		return dcc.Certificate{}, fmt.Errorf("%w: %w", ErrPayload, err)
	}
	return w.certificate(), nil
}

// payloadWire is dcc.Certificate as read from CBOR: the same fields, with the vaccination
// entry's integers read by schemaInt.
type payloadWire struct {
	Version     string            `cbor:"ver"`
	Name        dcc.Name          `cbor:"nam"`
	DateOfBirth string            `cbor:"dob"`
	Vaccination []vaccinationWire `cbor:"v"`
	Test        []dcc.Test        `cbor:"t"`
	Recovery    []dcc.Recovery    `cbor:"r"`
}

type vaccinationWire struct {
	Disease      string    `cbor:"tg"`
	Vaccine      string    `cbor:"vp"`
	Product      string    `cbor:"mp"`
	Manufacturer string    `cbor:"ma"`
	DoseNumber   schemaInt `cbor:"dn"`
	TotalDoses   schemaInt `cbor:"sd"`
	Date         string    `cbor:"dt"`
	Country      string    `cbor:"co"`
	Issuer       string    `cbor:"is"`
	ID           string    `cbor:"ci"`
}

func (w payloadWire) certificate() dcc.Certificate {
	out := dcc.Certificate{
		Version: w.Version, Name: w.Name, DateOfBirth: w.DateOfBirth,
		Test: w.Test, Recovery: w.Recovery,
	}
	if w.Vaccination != nil {
		out.Vaccination = make([]dcc.Vaccination, len(w.Vaccination))
		for i, v := range w.Vaccination {
			out.Vaccination[i] = dcc.Vaccination{
				Disease: v.Disease, Vaccine: v.Vaccine, Product: v.Product, Manufacturer: v.Manufacturer,
				DoseNumber: int(v.DoseNumber), TotalDoses: int(v.TotalDoses), Date: v.Date,
				Country: v.Country, Issuer: v.Issuer, ID: v.ID,
			}
		}
	}
	return out
}

// schemaInt is a JSON Schema integer read from CBOR: an integer, or a float (half, single or
// double precision) whose value is integral, within ±2^31.
type schemaInt int

// UnmarshalCBOR implements cbor.Unmarshaler.
func (n *schemaInt) UnmarshalCBOR(b []byte) error {
	c, err := codecs()
	if err != nil {
		return err
	}
	var v any
	if err := c.dec.Unmarshal(b, &v); err != nil {
		return err
	}
	const limit = 1 << 31
	switch x := v.(type) {
	case int64:
		if x < -limit || x > limit {
			return fmt.Errorf("integer %d out of range", x)
		}
		*n = schemaInt(x)
	case uint64:
		if x > limit {
			return fmt.Errorf("integer %d out of range", x)
		}
		*n = schemaInt(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || x != math.Trunc(x) || math.Abs(x) > limit {
			return fmt.Errorf("%v is not an integer", x)
		}
		*n = schemaInt(x)
	case nil:
		*n = 0
	default:
		return fmt.Errorf("%T is not an integer", v)
	}
	return nil
}
