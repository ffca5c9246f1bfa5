package registerapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/sedcc/dcc/registry"
)

func TestDecodePerson(t *testing.T) {
	cases := []struct {
		name string
		body string
		want registry.Person
		ok   bool
	}{
		{"full", `{"givenName":"Åsa","familyName":"Öberg","birthDate":"1985-03-12","protected":true,"deceased":false}`,
			registry.Person{GivenName: "Åsa", FamilyName: "Öberg", BirthDate: "1985-03-12", Protected: true}, true},
		{"unknown fields ignored", `{"givenName":"A","familyName":"B","birthDate":"1985-03-12","address":"x"}`,
			registry.Person{GivenName: "A", FamilyName: "B", BirthDate: "1985-03-12"}, true},
		{"family name only", `{"familyName":"B","birthDate":"1985-03-12","deceased":true}`,
			registry.Person{FamilyName: "B", BirthDate: "1985-03-12", Deceased: true}, true},
		{"no name", `{"givenName":" ","birthDate":"1985-03-12"}`, registry.Person{}, false},
		{"no birth date", `{"givenName":"A","familyName":"B"}`, registry.Person{}, false},
		{"bad birth date", `{"givenName":"A","familyName":"B","birthDate":"12/03/1985"}`, registry.Person{}, false},
		{"array", `[{"givenName":"A","familyName":"B","birthDate":"1985-03-12"}]`, registry.Person{}, false},
		{"trailing data", `{"givenName":"A","familyName":"B","birthDate":"1985-03-12"} {}`, registry.Person{}, false},
		{"duplicate member", `{"givenName":"A","familyName":"B","birthDate":"1985-03-12","deceased":false,"deceased":true}`, registry.Person{}, false},
		{"member in other case", `{"givenName":"A","familyName":"B","birthDate":"1985-03-12","Deceased":true}`,
			registry.Person{GivenName: "A", FamilyName: "B", BirthDate: "1985-03-12"}, true},
		{"not UTF-8", "{\"givenName\":\"\xc5sa\",\"familyName\":\"B\",\"birthDate\":\"1985-03-12\"}", registry.Person{}, false},
		{"html", `<html>Bad gateway</html>`, registry.Person{}, false},
		{"empty", ``, registry.Person{}, false},
		{"wrong type", `{"givenName":"A","familyName":"B","birthDate":"1985-03-12","protected":"yes"}`, registry.Person{}, false},
		{"too large", `{"givenName":"` + strings.Repeat("a", MaxBodyBytes) + `","birthDate":"1985-03-12"}`, registry.Person{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodePerson(strings.NewReader(tc.body))
			if tc.ok {
				if err != nil || p != tc.want {
					t.Fatalf("got %+v, %v; want %+v", p, err, tc.want)
				}
				return
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %+v, %v; want ErrMalformed", p, err)
			}
			if strings.Contains(err.Error(), "Bad gateway") {
				t.Fatalf("error quotes the body: %v", err)
			}
		})
	}
}

func TestDecodeError(t *testing.T) {
	code, err := DecodeError(strings.NewReader(`{"error":"not-found","detail":"no such person"}`))
	if err != nil || code != CodeNotFound {
		t.Fatalf("%q %v", code, err)
	}
	for _, body := range []string{``, `not found`, `{}`, `{"error":""}`} {
		if _, err := DecodeError(strings.NewReader(body)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", body, err)
		}
	}
}

func FuzzDecodePerson(f *testing.F) {
	f.Add(`{"givenName":"Åsa","familyName":"Öberg","birthDate":"1985-03-12","protected":true}`)
	f.Add(`{"familyName":"B","birthDate":"2000-02-29"}`)
	f.Add(`{"givenName":"A","birthDate":"2001-02-29"}`)
	f.Add(`[]`)
	f.Add(`{"givenName":"\ud800","birthDate":"1985-03-12"}`)
	f.Fuzz(func(t *testing.T, body string) {
		p, err := DecodePerson(strings.NewReader(body))
		if err != nil {
			if p != (registry.Person{}) {
				t.Fatalf("error with a person: %+v", p)
			}
			return
		}
		if strings.TrimSpace(p.GivenName) == "" && strings.TrimSpace(p.FamilyName) == "" {
			t.Fatalf("accepted a person without a name: %q", body)
		}
		if len(p.BirthDate) != 10 {
			t.Fatalf("accepted birth date %q", p.BirthDate)
		}
	})
}
