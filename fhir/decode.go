package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

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
func decode(r *report, body []byte, root string, v any, contained func() []json.RawMessage, allowed ...string) (*document, bool) {
	if len(body) > MaxBodyBytes {
		r.add(problem.CodeBodyTooLarge, "", fmt.Sprintf("The request body is larger than %d KiB. Send one %s without attachments or narrative text.", MaxBodyBytes>>10, root))
		return nil, false
	}
	var head struct {
		ResourceType json.RawMessage `json:"resourceType"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			r.add(problem.CodeJSONType, "", fmt.Sprintf("Send one FHIR %s as a JSON object, not a JSON %s.", root, te.Value))
			return nil, false
		}
		r.add(problem.CodeMalformedJSON, "", malformedText(body, err))
		return nil, false
	}
	var rt string
	if err := json.Unmarshal(head.ResourceType, &rt); err != nil || rt != root {
		r.add(problem.CodeResourceTypeUnexpected, "", resourceTypeText(root, rt))
		return nil, false
	}
	if err := json.Unmarshal(body, v); err != nil {
		r.add(problem.CodeJSONType, typeErrorPath(root, body, err), typeErrorText(err))
		return nil, false
	}

	doc := &document{byID: map[string]*entry{}}
	readable := true
	for i, raw := range contained() {
		at := fmt.Sprintf("%s.contained[%d]", root, i)
		var h resourceHead
		if err := json.Unmarshal(raw, &h); err != nil {
			r.add(problem.CodeJSONType, typeErrorPath(at, raw, err), typeErrorText(err))
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
			r.add(problem.CodeJSONType, typeErrorPath(h.ResourceType, raw, err), typeErrorText(err))
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
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("The body is not valid JSON (%s at byte %d). Send one FHIR resource as JSON, UTF-8 encoded.", se.Error(), se.Offset)
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
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("This element has the wrong JSON type (%s). Send it as FHIR R4 JSON defines it: %s.", te.Value, jsonKind(te))
	}
	return "This element could not be read. Send it as FHIR R4 JSON defines it."
}

func jsonKind(te *json.UnmarshalTypeError) string {
	if te.Type == nil {
		return "see the FHIR R4 specification"
	}
	switch te.Type.Kind().String() {
	case "string":
		return "a JSON string"
	case "slice":
		return "a JSON array"
	case "struct", "map":
		return "a JSON object"
	case "int", "int64", "ptr":
		return "a JSON number without fraction"
	case "bool":
		return "true or false"
	}
	return "see the FHIR R4 specification"
}

// typeErrorPath is the FHIRPath of the element a decoding type error is about: base plus the
// path to the element, with array indices, found by reading the JSON up to the error's offset.
func typeErrorPath(base string, raw []byte, err error) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return base
	}
	return base + locate(raw, te.Offset)
}

// locate returns the path (".a[0].b") of the JSON value that ends at or after byte offset off.
func locate(raw []byte, off int64) string {
	type frame struct {
		array   bool
		key     string
		index   int
		wantKey bool
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.array {
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
			} else if !f.wantKey {
				b.WriteString("." + f.key)
			}
		}
		return b.String()
	}
	valueDone := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].wantKey = true
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := dec.Token()
		if err != nil {
			if err == io.EOF {
				return ""
			}
			return path()
		}
		n := len(stack)
		if n > 0 && !stack[n-1].array && stack[n-1].wantKey {
			if key, ok := tok.(string); ok {
				stack[n-1].key = key
				stack[n-1].wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if dec.InputOffset() >= off {
				return path()
			}
			stack = append(stack, frame{array: tok == json.Delim('['), wantKey: tok == json.Delim('{')})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:n-1]
			valueDone()
		default:
			if dec.InputOffset() >= off {
				return path()
			}
			valueDone()
		}
	}
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
