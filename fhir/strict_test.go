package fhir

import (
	"bytes"
	encjson "encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// FuzzStrictWithinLenient: every body the strict reader accepts, the lenient reader the service
// used before (encoding/json: case-insensitive names, last duplicate wins, invalid UTF-8 replaced)
// accepts too and reads to the same values. Strictness only refuses; it never reads a body
// differently.
func FuzzStrictWithinLenient(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"resourceType":"Observation","status":"final","Status":"x"}`))
	f.Add([]byte(`{"resourceType":"Observation","status":"final","status":"x"}`))
	f.Add([]byte(`{"resourceType":"Observation","contained":[{"resourceType":"Patient","id":"1","ſd":"2"}]}`))
	f.Add([]byte("{\"resourceType\":\"Observation\",\"status\":\"fin\xe5l\"}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, root := range []string{resourceObservation, resourceImmunization} {
			var strict, lenient any
			var contained func() []jsontext.Value
			switch root {
			case resourceObservation:
				o := &observation{}
				strict, lenient, contained = o, &observation{}, func() []jsontext.Value { return o.Contained }
			default:
				i := &immunization{}
				strict, lenient, contained = i, &immunization{}, func() []jsontext.Value { return i.Contained }
			}
			var r report
			_, ok := decode(&r, body, root, strict, contained, resourcePatient, resourceOrganization, resourceDevice)
			if !ok || len(r.problems) > 0 {
				continue
			}
			if err := encjson.Unmarshal(body, lenient); err != nil {
				t.Fatalf("%s: the strict reader accepted what the lenient one refuses: %v", root, err)
			}
			compactContained(strict)
			compactContained(lenient)
			if !reflect.DeepEqual(strict, lenient) {
				t.Fatalf("%s: read differently\nstrict:  %+v\nlenient: %+v", root, strict, lenient)
			}
		}
	})
}

// compactContained removes insignificant whitespace from the raw contained resources, which each
// reader keeps as it found it.
func compactContained(v any) {
	var list []jsontext.Value
	switch x := v.(type) {
	case *observation:
		list = x.Contained
	case *immunization:
		list = x.Contained
	}
	for i := range list {
		var b bytes.Buffer
		if encjson.Compact(&b, list[i]) == nil {
			list[i] = b.Bytes()
		}
	}
}
