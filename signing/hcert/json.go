package hcert

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// PayloadJSON returns the signed payload as JSON, converted from its CBOR as it is, so fields
// that dcc.Certificate does not model are kept.
func (d *Decoded) PayloadJSON() ([]byte, error) {
	c, err := codecs()
	if err != nil {
		return nil, err
	}
	var v any
	if err := c.dec.Unmarshal(d.RawPayload, &v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPayload, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(JSONValue(v)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPayload, err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// JSONValue converts a generic CBOR value (as decoded into any) into one encoding/json can
// write: map keys become strings, byte strings base64, tags their content, times RFC 3339.
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
		return x.UTC().Format(time.RFC3339)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	}
	return v
}
