package hcert

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// PayloadJSON returns the signed payload as JSON, converted from its CBOR value by value, so
// fields that dcc.Certificate does not model are kept and every value reads as encoded: a
// date-time keeps its fractional seconds and offset (tag 0 gives its text unchanged), a float
// its digits.
func (d *Decoded) PayloadJSON() ([]byte, error) {
	v, err := ExactValue(d.RawPayload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPayload, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPayload, err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// ExactValue decodes one CBOR data item into a value encoding/json writes as the item reads:
// maps with string keys, arrays, text, numbers as json.Number in their shortest exact decimal
// form, byte strings in base64, tag 0 as its date-time text unchanged, other tags as their
// content. NaN and infinities, which JSON cannot hold, are an error.
func ExactValue(raw []byte) (any, error) {
	c, err := codecs()
	if err != nil {
		return nil, err
	}
	return exactValue(c, raw, 0)
}

func exactValue(c codec, raw []byte, depth int) (any, error) {
	if depth > 16 {
		return nil, fmt.Errorf("nested deeper than 16 levels")
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("empty CBOR item")
	}
	switch raw[0] >> 5 {
	case 4: // array
		var items []cbor.RawMessage
		if err := c.dec.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		out := make([]any, len(items))
		for i, it := range items {
			v, err := exactValue(c, it, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case 5: // map
		var m map[any]cbor.RawMessage
		if err := c.dec.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		out := make(map[string]any, len(m))
		for k, it := range m {
			v, err := exactValue(c, it, depth+1)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = v
		}
		return out, nil
	case 6: // tag
		var t cbor.RawTag
		if err := c.dec.Unmarshal(raw, &t); err != nil {
			return nil, err
		}
		if t.Number == 0 {
			var s string
			if err := c.dec.Unmarshal(t.Content, &s); err != nil {
				return nil, fmt.Errorf("tag 0: %w", err)
			}
			return s, nil
		}
		return exactValue(c, t.Content, depth+1)
	}
	var v any
	if err := c.dec.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), nil
	case uint64:
		return json.Number(strconv.FormatUint(x, 10)), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%v has no JSON form", x)
		}
		return json.Number(formatFloat(x)), nil
	case []byte:
		return base64.StdEncoding.EncodeToString(x), nil
	}
	return v, nil
}

// JSONValue converts a generic CBOR value (as decoded into any) into one encoding/json can
// write: map keys become strings, byte strings base64, tags their content, times RFC 3339 with
// their fractional seconds.
func JSONValue(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = JSONValue(e)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = JSONValue(e)
		}
		return out
	case cbor.Tag:
		return JSONValue(x.Content)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	}
	return v
}
