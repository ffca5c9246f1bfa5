// Package docs holds the documentation the service serves itself or tests its answers against:
// the OpenAPI description and the JSON Schemas of the published documents.
package docs

import (
	"bytes"
	_ "embed"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// OpenAPI is docs/openapi.yaml, served at /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// TrustListSchema is docs/trust-list.schema.json, the form of GET /api/v1/trust-list.
//
//go:embed trust-list.schema.json
var TrustListSchema []byte

// RevocationListSchema is docs/revocation-list.schema.json, the form of GET /api/v1/revocations.
//
//go:embed revocation-list.schema.json
var RevocationListSchema []byte

// Schema is a compiled JSON Schema of one of the published documents, with format assertions
// (date-time, ...) on.
type Schema struct{ s *jsonschema.Schema }

// CompileSchema compiles a schema document such as TrustListSchema or RevocationListSchema.
func CompileSchema(doc []byte) (*Schema, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("parse schema: %w", err)
	}
	const name = "schema.json"
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(name, v); err != nil {
		return nil, fmt.Errorf("add schema: %w", err)
	}
	s, err := c.Compile(name)
	if err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	return &Schema{s: s}, nil
}

// Validate validates a JSON document against the schema.
func (s *Schema) Validate(doc []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("parse document: %w", err)
	}
	return s.s.Validate(v)
}
