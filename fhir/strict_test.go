package fhir

import (
	"bytes"
	encjson "encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/sedcc/dcc/fhir/problem"
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

// checkMembersReference is checkMembers as first written (a set per object, every member's path
// built), kept as the reference the faster walk must agree with.
func checkMembersReference(r *report, body []byte, root string) bool {
	type frame struct {
		array bool
		index int
		key   string
		names map[string]bool
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body), jsontext.AllowDuplicateNames(true))
	var stack []frame
	path := func(last string) string {
		var b strings.Builder
		b.WriteString(root)
		for _, f := range stack {
			if f.array {
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
			} else if f.key != "" {
				b.WriteString("." + f.key)
			}
		}
		if last != "" {
			b.WriteString("." + last)
		}
		return b.String()
	}
	ok := true
	wantName := false
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return ok
		}
		n := len(stack)
		if wantName && n > 0 && !stack[n-1].array && tok.Kind() == '"' {
			name := tok.String()
			stack[n-1].key = ""
			at := path(name)
			if stack[n-1].names[name] {
				r.add(problem.CodeJSONMemberDuplicate, at, fmt.Sprintf(
					"The member %s appears more than once in this object. Send each member once: readers disagree on which copy counts.", quote(name)))
				ok = false
			}
			stack[n-1].names[name] = true
			if exact, folded := knownMember(name); !exact && folded != "" {
				r.add(problem.CodeJSONMemberCase, at, fmt.Sprintf(
					"The member %s differs from %q only in case. FHIR member names are case-sensitive: send %q.", quote(name), folded, folded))
				ok = false
			}
			stack[n-1].key = name
			wantName = false
			continue
		}
		switch tok.Kind() {
		case '{':
			stack = append(stack, frame{names: map[string]bool{}})
			wantName = true
			continue
		case '[':
			stack = append(stack, frame{array: true})
			continue
		case '}', ']':
			stack = stack[:n-1]
		}
		if m := len(stack); m > 0 {
			if stack[m-1].array {
				stack[m-1].index++
			} else {
				wantName = true
			}
		}
	}
}

// manyMembers is an object of n members m0 .. m(n-1), then the given extra members.
func manyMembers(n int, extra string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"m%d":%d,`, i, i)
	}
	b.WriteString(extra + "}")
	return b.String()
}

var checkMembersSeeds = []string{
	`{"resourceType":"Observation","status":"final","Status":"x"}`,
	`{"resourceType":"Observation","status":"final","status":"x"}`,
	`{"resourceType":"Observation","contained":[{"resourceType":"Patient","id":"1","ſd":"2"},{"id":"1","id":"2"}]}`,
	`{"a":{"b":1,"b":2},"b":3,"a":[{"c":1},{"c":1,"C":2,"c":3}],"code":{"coding":[{"system":"x","SYSTEM":"y"}]}}`,
	`{"a":{"x":1,"y":{"x":1}},"x":2,"y":3,"x":4}`,
	manyMembers(15, `"m3":"again"`),
	manyMembers(16, `"m3":"again"`),
	manyMembers(17, `"m0":"again","m16":"again","m17":1`),
	manyMembers(40, `"inner":`+manyMembers(20, `"m19":0,"m1":1`)+`,"m39":"again","Status":1,"inner":2`),
	`[{"a":1,"a":2},[{"b":1},{"b":1,"b":2}]]`,
	`{"a":1,"a":`, // cut short: the syntax error is left to the decoder
	`"just a string"`,
}

// The walk agrees with the reference on every seed: the same problems (code, path, text), in the
// same order, and the same verdict.
func TestCheckMembersAgreesWithReference(t *testing.T) {
	for _, body := range checkMembersSeeds {
		compareCheckMembers(t, []byte(body))
	}
	var r report
	if checkMembers(&r, []byte(manyMembers(40, `"m3":"again"`)), "Observation") || len(r.problems) != 1 ||
		r.problems[0].Expression != "Observation.m3" {
		t.Errorf("a repeated member among 41: %+v, want one problem at Observation.m3", r.problems)
	}
}

func FuzzCheckMembersAgreesWithReference(f *testing.F) {
	for _, body := range checkMembersSeeds {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { compareCheckMembers(t, body) })
}

func compareCheckMembers(t *testing.T, body []byte) {
	t.Helper()
	var got, want report
	gotOK := checkMembers(&got, body, "Observation")
	wantOK := checkMembersReference(&want, body, "Observation")
	if gotOK != wantOK || !reflect.DeepEqual(got.problems, want.problems) {
		t.Fatalf("body %q:\n got %v %+v\nwant %v %+v", body, gotOK, got.problems, wantOK, want.problems)
	}
}
