package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sedcc/dcc/fhir/fhirtest"
)

// strictSwagger compiles the answer schemas of swagger.json (testdata/covidbevis-api) with
// additionalProperties false on every object, as clients generated from it in several languages
// read them: a property swagger.json does not declare fails. VaccinationProofResponse, which
// swagger.json lacks, is TestSubmissionResponse's shape with vaccinationProof and the
// vaccination details the project documents in docs/openapi.yaml.
func strictSwagger(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	raw, err := os.ReadFile("testdata/covidbevis-api/swagger.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	coding := map[string]any{"$ref": "#/components/schemas/Coding"}
	schemas["Vaccination"] = map[string]any{
		"type":     "object",
		"required": []any{"id", "targetDisease", "vaccineType", "medicinalProduct", "manufacturer", "doseNumber", "totalSeriesOfDoses", "dateOfVaccination"},
		"properties": map[string]any{
			"id": map[string]any{"type": "string"}, "targetDisease": coding, "vaccineType": coding,
			"medicinalProduct": coding, "manufacturer": coding,
			"doseNumber": map[string]any{"type": "integer"}, "totalSeriesOfDoses": map[string]any{"type": "integer"},
			"dateOfVaccination": map[string]any{"type": "string", "format": "date"},
		},
	}
	schemas["VaccinationProof"] = map[string]any{
		"type":     "object",
		"required": []any{"metadata", "qrCode", "subject", "vaccination"},
		"properties": map[string]any{
			"qrCode":      map[string]any{"$ref": "#/components/schemas/ProofQRCode"},
			"metadata":    map[string]any{"$ref": "#/components/schemas/TestProofMetadata"},
			"subject":     map[string]any{"$ref": "#/components/schemas/TestPersonData"},
			"vaccination": map[string]any{"$ref": "#/components/schemas/Vaccination"},
		},
	}
	schemas["VaccinationProofResponse"] = map[string]any{
		"type":     "object",
		"required": []any{"proofTypes", "vaccinationProof"},
		"properties": map[string]any{
			"vaccinationProof": map[string]any{"$ref": "#/components/schemas/VaccinationProof"},
			"proofTypes":       map[string]any{"type": "array", "items": map[string]any{"$ref": "#/components/schemas/Proof"}},
		},
	}
	for _, s := range schemas {
		if m := s.(map[string]any); m["type"] == "object" {
			m["additionalProperties"] = false
		}
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "https://example.invalid/covidbevis-api.json"
	if err := c.AddResource(url, map[string]any{"components": doc["components"]}); err != nil {
		t.Fatal(err)
	}
	out := map[string]*jsonschema.Schema{}
	for _, name := range []string{"TestSubmissionResponse", "RecoveryProofResponse", "VaccinationProofResponse"} {
		s, err := c.Compile(url + "#/components/schemas/" + name)
		if err != nil {
			t.Fatalf("compile %s: %v", name, err)
		}
		out[name] = s
	}
	return out
}

func validateAnswer(s *jsonschema.Schema, body []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

// TestCompatibilityAnswersAreExactlySwaggerShapes: every answer of the compatibility paths
// validates against swagger.json's schema with no undeclared property; the /api/v1 answer of
// the same request carries the project's extensions, so it does not.
func TestCompatibilityAnswersAreExactlySwaggerShapes(t *testing.T) {
	schemas := strictSwagger(t)
	for _, sk := range stores {
		t.Run(sk, func(t *testing.T) {
			e := newEnv(t, sk, envOptions{})
			now := fhirtest.Now(e.now)
			cases := []struct {
				path, schema string
				body         []byte
			}{
				{"/observation", "TestSubmissionResponse", fhirtest.Observation(fhirtest.NAAT, now)},
				{"/observation", "TestSubmissionResponse", fhirtest.Observation(fhirtest.RAT, now, fhirtest.PNR("198503122387"))},
				{"/observation", "TestSubmissionResponse", fhirtest.Observation(fhirtest.NoPNR, now)},
				{"/recovery", "RecoveryProofResponse", fhirtest.Observation(fhirtest.Recovery, now)},
				{"/immunization", "VaccinationProofResponse", fhirtest.Immunization(fhirtest.Comirnaty, now)},
			}
			for i, tc := range cases {
				a := e.post(tc.path, e.sandbox, tc.body)
				if a.status != http.StatusOK {
					t.Fatalf("%d %s: %d %s", i, tc.path, a.status, a.body)
				}
				if err := validateAnswer(schemas[tc.schema], a.body); err != nil {
					t.Errorf("%d %s: the answer is not exactly %s: %v", i, tc.path, tc.schema, err)
				}
				// The same request on /api/v1 (a replay of the same Identifier) carries extensions.
				v1 := e.post("/api/v1"+tc.path, e.sandbox, tc.body)
				if v1.status != http.StatusOK {
					t.Fatalf("%d /api/v1%s: %d", i, tc.path, v1.status)
				}
				err := validateAnswer(schemas[tc.schema], v1.body)
				if err == nil || !strings.Contains(string(v1.body), `"hc1"`) {
					t.Errorf("%d /api/v1%s: the answer has no extensions (%v)", i, tc.path, err)
				}
			}
		})
	}
}
