package fhir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/sedcc/dcc/fhir/problem"
)

// MaxBodyBytes is the largest request body the provider API accepts (64 KiB). The HTTP layer
// enforces it before reading on and answers problem.CodeBodyTooLarge; the parser refuses larger bodies
// too, so that no caller can hand it more.
const MaxBodyBytes = 64 << 10

// entry is one resource of the contained array, read according to its resourceType.
type entry struct {
	index        int
	resourceType string
	id           string
	patient      *patient
	organization *organization
	device       *device
}

// document is a decoded request: the contained resources by id, for resolving "#id" references.
type document struct {
	entries []*entry
	byID    map[string]*entry
}

// decode reads body as the resource named root into v (a pointer to observation or
// immunization), then its contained resources by type: contained returns v's raw contained
// elements once v has been read. allowed lists the contained resource types this request may hold. It reports what makes the body
// unreadable; the second result is false when nothing further can be checked.
func decode(r *report, body []byte, root string, v any, contained func() []jsontext.Value, allowed ...string) (*document, bool) {
	if len(body) > MaxBodyBytes {
		r.add(problem.CodeBodyTooLarge, "", fmt.Sprintf("The request body is larger than %d KiB. Send one %s without attachments or narrative text.", MaxBodyBytes>>10, root))
		return nil, false
	}
	if !checkEncoding(r, body) || !checkMembers(r, body, root) {
		return nil, false
	}
	var head struct {
		ResourceType jsontext.Value `json:"resourceType"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		var se *json.SemanticError
		if errors.As(err, &se) && len(se.JSONPointer) == 0 && se.JSONKind != 0 {
			r.add(problem.CodeJSONType, "", fmt.Sprintf("Send one FHIR %s as a JSON object, not a JSON %s.", root, kindName(se.JSONKind)))
			return nil, false
		}
		if !errors.As(err, &se) {
			r.add(problem.CodeMalformedJSON, "", malformedText(body, err))
			return nil, false
		}
		// resourceType itself cannot be read as JSON text: answered below.
	}
	var rt string
	if err := json.Unmarshal(head.ResourceType, &rt); err != nil || rt != root {
		r.add(problem.CodeResourceTypeUnexpected, "", resourceTypeText(root, rt))
		return nil, false
	}
	if err := json.Unmarshal(body, v); err != nil {
		r.add(problem.CodeJSONType, typeErrorPath(root, err), typeErrorText(err))
		return nil, false
	}

	doc := &document{byID: map[string]*entry{}}
	readable := true
	for i, raw := range contained() {
		at := fmt.Sprintf("%s.contained[%d]", root, i)
		var h resourceHead
		if err := json.Unmarshal(raw, &h); err != nil {
			r.add(problem.CodeJSONType, typeErrorPath(at, err), typeErrorText(err))
			readable = false
			continue
		}
		e := &entry{index: i, resourceType: h.ResourceType, id: h.ID}
		var target any
		switch {
		case !contains(allowed, h.ResourceType):
			r.add(problem.CodeResourceTypeUnexpected, at+".resourceType", containedTypeText(h.ResourceType, allowed))
			continue
		case h.ResourceType == resourcePatient:
			e.patient = &patient{}
			target = e.patient
		case h.ResourceType == resourceOrganization:
			e.organization = &organization{}
			target = e.organization
		case h.ResourceType == resourceDevice:
			e.device = &device{}
			target = e.device
		}
		if err := json.Unmarshal(raw, target); err != nil {
			r.add(problem.CodeJSONType, typeErrorPath(h.ResourceType, err), typeErrorText(err))
			readable = false
			continue
		}
		if h.ID != "" {
			if first, dup := doc.byID[h.ID]; dup {
				r.add(problem.CodeContainedIDDuplicate, at+".id", fmt.Sprintf(
					"Give every contained resource its own id; %s.contained[%d] already has id %s.", root, first.index, quote(h.ID)))
			} else {
				doc.byID[h.ID] = e
			}
		}
		doc.entries = append(doc.entries, e)
	}
	return doc, readable
}

// resolve follows a local reference ("#id") from the element at path to a contained resource of
// type want. It reports a reference that leads nowhere or to the wrong type and then returns nil;
// an empty reference returns nil without a report (the caller knows whether it was required).
func (d *document) resolve(r *report, ref, path, want string) *entry {
	if ref == "" {
		return nil
	}
	id, local := strings.CutPrefix(ref, "#")
	if !local {
		r.add(problem.CodeReferenceDangling, path, fmt.Sprintf(
			"Reference the %s in contained by its id, e.g. \"#1\"; references outside the request (%s) are not followed.", want, quote(ref)))
		return nil
	}
	e, ok := d.byID[id]
	if !ok {
		r.add(problem.CodeReferenceDangling, path, fmt.Sprintf(
			"No contained resource has id %s. Add the %s to contained with that id, or reference the id it has.", quote(id), want))
		return nil
	}
	if e.resourceType != want {
		r.add(problem.CodeReferenceType, path, fmt.Sprintf(
			"%s refers to a contained %s; it must refer to a contained %s.", quote(ref), e.resourceType, want))
		return nil
	}
	return e
}

// markedTest returns the FHIRPath of the HTEST tag on the root resource or on a contained one,
// or "" when the request is not marked as test data.
func (d *document) markedTest(rootType string, root meta) string {
	if p := root.testDataPath(rootType); p != "" {
		return p
	}
	for _, e := range d.entries {
		var p string
		switch {
		case e.patient != nil:
			p = e.patient.Meta.testDataPath("Patient")
		case e.organization != nil:
			p = e.organization.Meta.testDataPath("Organization")
		case e.device != nil:
			p = e.device.Meta.testDataPath("Device")
		}
		if p != "" {
			return p
		}
	}
	return ""
}

func malformedText(body []byte, err error) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return "The request body is empty. Send one FHIR resource as JSON."
	}
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		what := "invalid syntax"
		if se.Err != nil {
			what = se.Err.Error()
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			what = "the body ends before the JSON does"
		}
		return fmt.Sprintf("The body is not valid JSON (%s, at byte %d). Send one FHIR resource as JSON, UTF-8 encoded.", what, se.ByteOffset)
	}
	return "The body is not valid JSON. Send one FHIR resource as JSON, UTF-8 encoded."
}

func resourceTypeText(want, got string) string {
	switch {
	case got == "":
		return fmt.Sprintf("Send a FHIR %s with \"resourceType\": %q.", want, want)
	case got == resourceImmunization:
		return fmt.Sprintf("This endpoint takes a FHIR %s; send an Immunization to the immunization endpoint.", want)
	case got == resourceObservation:
		return fmt.Sprintf("This endpoint takes a FHIR %s; send an Observation (test or recovery) to the observation or recovery endpoint.", want)
	}
	return fmt.Sprintf("This endpoint takes a FHIR %s, not %s. Send \"resourceType\": %q.", want, quote(got), want)
}

func containedTypeText(got string, allowed []string) string {
	if got == "" {
		return fmt.Sprintf("Give every contained resource a resourceType: one of %s.", strings.Join(allowed, ", "))
	}
	return fmt.Sprintf("In this request contained holds only %s; remove the %s.", strings.Join(allowed, ", "), quote(got))
}

func typeErrorText(err error) string {
	var se *json.SemanticError
	if errors.As(err, &se) && se.JSONKind != 0 {
		return fmt.Sprintf("This element has the wrong JSON type (%s). Send it as FHIR R4 JSON defines it: %s.", kindName(se.JSONKind), goKind(se.GoType))
	}
	return "This element could not be read. Send it as FHIR R4 JSON defines it."
}

// kindName names a JSON kind as a sender would: "string", "number", "object", ...
func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "value"
}

// goKind says which JSON the Go type of an element takes.
func goKind(t reflect.Type) string {
	if t == nil {
		return "see the FHIR R4 specification"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a JSON string"
	case reflect.Slice:
		return "a JSON array"
	case reflect.Struct, reflect.Map:
		return "a JSON object"
	case reflect.Int, reflect.Int64:
		return "a JSON number without fraction"
	case reflect.Bool:
		return "true or false"
	}
	return "see the FHIR R4 specification"
}

// typeErrorPath is the FHIRPath of the element a decoding error is about: base plus the path to
// the element, from the error's JSON Pointer.
func typeErrorPath(base string, err error) string {
	var se *json.SemanticError
	if errors.As(err, &se) {
		return pointerPath(base, se.JSONPointer)
	}
	var sy *jsontext.SyntacticError
	if errors.As(err, &sy) {
		return pointerPath(base, sy.JSONPointer)
	}
	return base
}

// quote shows a value from the request in a message: quoted, at most 40 characters, so that an
// echo can neither flood a response nor break a log line. Never use it for personal data.
func quote(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return strconv.Quote(s)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
