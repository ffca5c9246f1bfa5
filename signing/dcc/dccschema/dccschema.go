// Package dccschema validates DCC payloads against the official EU DCC JSON schema (1.3.3),
// embedded from testdata/. Tests of every layer use it to check what the service produces.
package dccschema

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed testdata/DCC.combined-schema.json
var schemaJSON []byte

// SchemaURL is the schema's own $id.
const SchemaURL = "https://id.uvci.eu/DCC.combined-schema.json"

// Schema is a compiled DCC schema with format assertions (date, date-time) switched on.
type Schema struct{ s *jsonschema.Schema }

// Compile compiles the embedded schema.
func Compile() (*Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("parse DCC schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(SchemaURL, doc); err != nil {
		return nil, fmt.Errorf("add DCC schema: %w", err)
	}
	s, err := c.Compile(SchemaURL)
	if err != nil {
		return nil, fmt.Errorf("compile DCC schema: %w", err)
	}
	return &Schema{s: s}, nil
}

// ValidateJSON validates a JSON document.
func (s *Schema) ValidateJSON(doc []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("parse payload JSON: %w", err)
	}
	return s.s.Validate(v)
}

// Validate marshals v to JSON and validates the result.
func (s *Schema) Validate(v any) error {
	doc, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("marshal payload: %w", err)
	}
	return s.ValidateJSON(doc)
}
