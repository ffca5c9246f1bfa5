// Package fileregister holds a population register read from a JSON file, or the built-in
// development population when no file is given. It backs development runs and tests, and is
// what the service uses when no HTTP register is configured (DCC_REGISTER_FILE).
//
// The file is a JSON array of objects:
//
//	[{"personnummer": "191212121212", "givenName": "Tolvan", "familyName": "Tolvansson",
//	  "birthDate": "1912-12-12", "protected": false, "deceased": false}]
//
// "personnummer" holds either a personnummer or a samordningsnummer (day of birth plus 60), in
// the 12-digit form. "protected" and "deceased" are optional. The file is validated as a whole
// when it is loaded; every problem is reported with the index of its entry, never with the
// number in clear.
package fileregister

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sedcc/dcc/registry"
	"github.com/sedcc/dcc/registry/pnr"
)

//go:embed development.json
var developmentJSON []byte

// DevelopmentSource is the source name of the built-in development population.
const DevelopmentSource = "built-in development population"

// Resident is one person the register holds, with the number that identifies them.
type Resident struct {
	Number pnr.Number
	Person registry.Person
}

// entry is one element of the JSON file.
type entry struct {
	Personnummer string `json:"personnummer"`
	GivenName    string `json:"givenName"`
	FamilyName   string `json:"familyName"`
	BirthDate    string `json:"birthDate"`
	Protected    bool   `json:"protected,omitempty"`
	Deceased     bool   `json:"deceased,omitempty"`
}

// Parse reads a population file's content. The numbers are validated at the time now (a birth
// date in the future is refused). All problems found are returned together, joined, each naming
// its entry by index (0-based).
func Parse(data []byte, now time.Time) ([]Resident, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("population file is not a JSON array: %w", err)
	}
	residents := make([]Resident, 0, len(raw))
	seen := make(map[string]int, len(raw))
	var problems []error
	for i, msg := range raw {
		r, err := parseEntry(msg, now)
		if err != nil {
			problems = append(problems, fmt.Errorf("entry %d: %w", i, err))
			continue
		}
		if first, dup := seen[r.Number.Digits()]; dup {
			problems = append(problems, fmt.Errorf("entry %d: same number as entry %d", i, first))
			continue
		}
		seen[r.Number.Digits()] = i
		residents = append(residents, r)
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return residents, nil
}

func parseEntry(msg json.RawMessage, now time.Time) (Resident, error) {
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.DisallowUnknownFields()
	var e entry
	if err := dec.Decode(&e); err != nil {
		// The decoder's messages name fields and types, never values.
		return Resident{}, fmt.Errorf("not a person object: %w", err)
	}
	var problems []error
	n, err := ParseNumber(e.Personnummer, now)
	if err != nil {
		problems = append(problems, fmt.Errorf("personnummer: %w", err))
	}
	if strings.TrimSpace(e.GivenName) == "" && strings.TrimSpace(e.FamilyName) == "" {
		problems = append(problems, errors.New("givenName and familyName: at least one is required"))
	}
	if err := checkBirthDate(e.BirthDate, now); err != nil {
		problems = append(problems, fmt.Errorf("birthDate: %w", err))
	}
	if len(problems) > 0 {
		return Resident{}, errors.Join(problems...)
	}
	return Resident{
		Number: n,
		Person: registry.Person{
			GivenName:  e.GivenName,
			FamilyName: e.FamilyName,
			BirthDate:  e.BirthDate,
			Protected:  e.Protected,
			Deceased:   e.Deceased,
		},
	}, nil
}

// ParseNumber accepts a 12-digit personnummer or samordningsnummer, telling the two apart by
// the day (a samordningsnummer's day is the day of birth plus 60).
func ParseNumber(s string, now time.Time) (pnr.Number, error) {
	kind := pnr.Personnummer
	if len(s) == 12 && s[6] >= '6' && s[6] <= '9' {
		kind = pnr.Samordningsnummer
	}
	n, err := pnr.Parse(s, kind, now)
	if err != nil {
		return pnr.Number{}, fmt.Errorf("%s: %w", kind, err)
	}
	return n, nil
}

func checkBirthDate(s string, now time.Time) error {
	if s == "" {
		return errors.New("required, as YYYY-MM-DD")
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return errors.New("not a date YYYY-MM-DD")
	}
	if d.After(now) {
		return errors.New("in the future")
	}
	return nil
}

// Marshal encodes residents in the file format Parse reads.
func Marshal(residents []Resident) ([]byte, error) {
	entries := make([]entry, len(residents))
	for i, r := range residents {
		entries[i] = entry{
			Personnummer: r.Number.Digits(),
			GivenName:    r.Person.GivenName,
			FamilyName:   r.Person.FamilyName,
			BirthDate:    r.Person.BirthDate,
			Protected:    r.Person.Protected,
			Deceased:     r.Person.Deceased,
		}
	}
	b, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode population: %w", err)
	}
	return b, nil
}

// Development returns the built-in development population: fictional persons with valid
// numbers, among them Tolvan Tolvansson (191212121212), two samordningsnummer, a protected
// identity, a deceased person and names with Å, Ä and Ö. For development and tests only.
func Development(now time.Time) ([]Resident, error) {
	residents, err := Parse(developmentJSON, now)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", DevelopmentSource, err)
	}
	return residents, nil
}

// Register is a population register held in memory. It is safe for concurrent use; its content
// never changes after construction.
type Register struct {
	source    string
	residents []Resident
	byDigits  map[string]registry.Person
}

var (
	_ registry.Register = (*Register)(nil)
	_ registry.Reporter = (*Register)(nil)
)

// New builds a register from residents; source names where they came from in State and errors
// (a file path, never personal data). Two residents with the same number are refused.
func New(source string, residents []Resident) (*Register, error) {
	r := &Register{
		source:    source,
		residents: append([]Resident(nil), residents...),
		byDigits:  make(map[string]registry.Person, len(residents)),
	}
	for i, res := range residents {
		if res.Number.IsZero() {
			return nil, fmt.Errorf("%s: resident %d has no number", source, i)
		}
		if _, dup := r.byDigits[res.Number.Digits()]; dup {
			return nil, fmt.Errorf("%s: resident %d: number given twice", source, i)
		}
		r.byDigits[res.Number.Digits()] = res.Person
	}
	return r, nil
}

// Open loads the population file at path, or the built-in development population when path is
// empty (DCC_REGISTER_FILE unset). now is the time numbers and birth dates are validated at.
func Open(path string, now time.Time) (*Register, error) {
	if path == "" {
		residents, err := Development(now)
		if err != nil {
			return nil, err
		}
		return New(DevelopmentSource, residents)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read population file: %w", err)
	}
	residents, err := Parse(data, now)
	if err != nil {
		return nil, fmt.Errorf("population file %s: %w", path, err)
	}
	return New(path, residents)
}

// Lookup returns the person registered under n, or an error wrapping registry.ErrNotFound.
// A cancelled context yields an error wrapping registry.ErrUnavailable, as for any register.
func (r *Register) Lookup(ctx context.Context, n pnr.Number) (registry.Person, error) {
	if err := ctx.Err(); err != nil {
		return registry.Person{}, fmt.Errorf("look up %s: %w: %w", n, registry.ErrUnavailable, err)
	}
	p, ok := r.byDigits[n.Digits()]
	if !ok || n.IsZero() {
		return registry.Person{}, fmt.Errorf("look up %s in %s: %w", n, r.source, registry.ErrNotFound)
	}
	return p, nil
}

// Residents returns a copy of everyone the register holds, in file order, so that tests and
// development tools can choose and print numbers.
func (r *Register) Residents() []Resident {
	return append([]Resident(nil), r.residents...)
}

// Len is the number of persons held.
func (r *Register) Len() int { return len(r.residents) }

// State reports the register as up: a file register cannot fail once loaded.
func (r *Register) State() registry.State {
	return registry.State{
		Status: "up",
		Detail: fmt.Sprintf("file register (%s), %d persons", r.source, len(r.residents)),
	}
}
