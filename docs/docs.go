// Package docs holds the documentation the service serves itself or tests its answers against:
// the OpenAPI description and the JSON Schemas of the published documents.
package docs

import _ "embed"

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
