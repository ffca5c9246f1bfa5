package fileregister

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/registry"
	"github.com/sedcc/dcc/registry/pnr"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func valid(first11 string) string { return first11 + string(pnr.CheckDigit(first11)) }

func TestDevelopmentPopulation(t *testing.T) {
	residents, err := Development(now)
	if err != nil {
		t.Fatal(err)
	}
	if len(residents) < 8 {
		t.Fatalf("development population has %d persons, want about ten", len(residents))
	}
	var tolvan, coordination, protected, deceased bool
	var letters = map[rune]bool{}
	for _, r := range residents {
		p := r.Person
		if r.Number.Digits() == "191212121212" {
			tolvan = p.GivenName == "Tolvan" && p.FamilyName == "Tolvansson" && p.BirthDate == "1912-12-12"
		}
		if r.Number.Kind() == pnr.Samordningsnummer {
			coordination = true
		}
		protected = protected || p.Protected
		deceased = deceased || p.Deceased
		for _, c := range p.GivenName + p.FamilyName {
			letters[c] = true
		}
		// The number's birth date agrees with the register's in the development data.
		if got := r.Number.BirthDate().Format(time.DateOnly); got != p.BirthDate {
			t.Errorf("%s: number says born %s, register %s", r.Number, got, p.BirthDate)
		}
	}
	if !tolvan || !coordination || !protected || !deceased {
		t.Errorf("tolvan %v, samordningsnummer %v, protected %v, deceased %v", tolvan, coordination, protected, deceased)
	}
	for _, c := range "ÅÄÖ" {
		lower := strings.ToLower(string(c))
		if !letters[c] && !letters[[]rune(lower)[0]] {
			t.Errorf("no name with %c", c)
		}
	}
}

func TestOpenDevelopmentAndLookup(t *testing.T) {
	reg, err := Open("", now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, r := range reg.Residents() {
		got, err := reg.Lookup(ctx, r.Number)
		if err != nil {
			t.Fatalf("%s: %v", r.Number, err)
		}
		if got != r.Person {
			t.Fatalf("%s: got %+v want %+v", r.Number, got, r.Person)
		}
	}
	unknown := pnr.MustParse(valid("19800101000"), pnr.Personnummer)
	_, err = reg.Lookup(ctx, unknown)
	if !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unknown number: %v", err)
	}
	if strings.Contains(err.Error(), unknown.Digits()) {
		t.Fatalf("error shows the number in clear: %v", err)
	}
	if _, err := reg.Lookup(ctx, pnr.Number{}); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("zero number: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := reg.Lookup(cancelled, reg.Residents()[0].Number); !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("cancelled context: %v", err)
	}
	if s := reg.State(); s.Status != "up" || !strings.Contains(s.Detail, DevelopmentSource) {
		t.Fatalf("state %+v", s)
	}
}

func TestResidentsIsACopy(t *testing.T) {
	reg, err := Open("", now)
	if err != nil {
		t.Fatal(err)
	}
	rs := reg.Residents()
	rs[0].Person.GivenName = "Changed"
	if reg.Residents()[0].Person.GivenName == "Changed" {
		t.Fatal("Residents exposes the register's own slice")
	}
}

func TestOpenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pop.json")
	a := valid("19700101123")
	b := valid("19700161123") // samordningsnummer, born 1970-01-01
	content := `[
	 {"personnummer":"` + a + `","givenName":"Östen","familyName":"Ärlig","birthDate":"1970-01-01","protected":true},
	 {"personnummer":"` + b + `","givenName":"","familyName":"Single","birthDate":"1970-01-01","deceased":true}
	]`
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	reg, err := Open(path, now)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Len() != 2 {
		t.Fatalf("len %d", reg.Len())
	}
	p, err := reg.Lookup(context.Background(), pnr.MustParse(a, pnr.Personnummer))
	if err != nil || p.GivenName != "Östen" || !p.Protected || p.Deceased {
		t.Fatalf("%+v %v", p, err)
	}
	p, err = reg.Lookup(context.Background(), pnr.MustParse(b, pnr.Samordningsnummer))
	if err != nil || p.FamilyName != "Single" || !p.Deceased {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := Open(filepath.Join(dir, "missing.json"), now); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestParseProblemsNameTheEntry(t *testing.T) {
	good := valid("19700101123")
	badCheck := good[:11] + string('0'+(good[11]-'0'+1)%10)
	cases := []struct {
		name    string
		content string
		want    []string // substrings the error must contain
	}{
		{"not an array", `{"personnummer":"x"}`, []string{"not a JSON array"}},
		{"bad checksum", `[{"personnummer":"` + good + `","givenName":"A","familyName":"B","birthDate":"1970-01-01"},
			{"personnummer":"` + badCheck + `","givenName":"A","familyName":"B","birthDate":"1970-01-01"}]`,
			[]string{"entry 1", "personnummer", pnr.ErrChecksum.Error()}},
		{"duplicate", `[{"personnummer":"` + good + `","givenName":"A","familyName":"B","birthDate":"1970-01-01"},
			{"personnummer":"` + good + `","givenName":"C","familyName":"D","birthDate":"1970-01-01"}]`,
			[]string{"entry 1", "same number as entry 0"}},
		{"several problems in one entry", `[{"personnummer":"19701301","givenName":" ","familyName":"","birthDate":"1970-13-01"}]`,
			[]string{"entry 0", "personnummer", "givenName and familyName", "birthDate"}},
		{"unknown field", `[{"personnummer":"` + good + `","givenName":"A","familyName":"B","birthDate":"1970-01-01","adress":"x"}]`,
			[]string{"entry 0", "adress"}},
		{"future birth date", `[{"personnummer":"` + good + `","givenName":"A","familyName":"B","birthDate":"2099-01-01"}]`,
			[]string{"entry 0", "birthDate", "future"}},
		{"missing birth date", `[{"personnummer":"` + good + `","givenName":"A","familyName":"B"}]`,
			[]string{"entry 0", "birthDate", "required"}},
		{"problems in two entries", `[{"personnummer":"1","givenName":"A","familyName":"B","birthDate":"1970-01-01"},
			{"personnummer":"` + good + `","givenName":"A","familyName":"B","birthDate":"x"}]`,
			[]string{"entry 0", "entry 1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.content), now)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			for _, n := range []string{good, badCheck} {
				if strings.Contains(msg, n) {
					t.Errorf("error shows a number in clear: %q", msg)
				}
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	residents, err := Development(now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Marshal(residents)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(b, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(residents) {
		t.Fatalf("%d back, %d sent", len(back), len(residents))
	}
	for i := range back {
		if back[i].Number.Digits() != residents[i].Number.Digits() || back[i].Person != residents[i].Person {
			t.Fatalf("entry %d differs: %+v vs %+v", i, back[i], residents[i])
		}
	}
}

func TestNewRefusesDuplicatesAndZero(t *testing.T) {
	n := pnr.MustParse("191212121212", pnr.Personnummer)
	if _, err := New("t", []Resident{{Number: n}, {Number: n}}); err == nil {
		t.Fatal("duplicate accepted")
	}
	if _, err := New("t", []Resident{{}}); err == nil {
		t.Fatal("zero number accepted")
	}
}
