package problem

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Every Code constant in table.go has a row in codeTable, and every row a constant.
func TestTableComplete(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "table.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]bool{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if strings.HasPrefix(n.Name, "Code") {
					v, _ := strconv.Unquote(vs.Values[i].(*ast.BasicLit).Value)
					if consts[v] {
						t.Errorf("%s: value %q used twice", n.Name, v)
					}
					consts[v] = true
					// A constant's name holds the words of its value, so the two cannot drift apart
					// (a name saying "incomplete" for the value "certificate-invalid").
					if !nameFits(n.Name, v) {
						t.Errorf("%s has the value %q", n.Name, v)
					}
				}
			}
		}
	}
	for c := range consts {
		if !Known(c) {
			t.Errorf("%s has no row in codeTable", c)
		}
	}
	if len(consts) != len(codeTable) {
		t.Errorf("%d constants, %d table rows", len(consts), len(codeTable))
	}
	for c := ClassMalformed; c <= ClassInternal; c++ {
		if _, ok := classTable[c]; !ok {
			t.Errorf("class %d has no row in classTable", c)
		}
	}
	for _, s := range Specs() {
		if s.Text == "" || !strings.HasSuffix(s.Text, ".") {
			t.Errorf("%s: default text %q is not a sentence", s.Code, s.Text)
		}
		if s.IssueType == "" {
			t.Errorf("%s: no issue type", s.Code)
		}
	}
}

// shortNames are the constants whose names leave out a word of their value.
var shortNames = map[string]bool{
	"CodeProphylaxisMismatch":       true, // vaccine-prophylaxis-mismatch
	"CodeManufacturerMismatch":      true, // vaccine-manufacturer-mismatch
	"CodeVaccinationBeforeApproval": true, // vaccination-before-authorisation
	"CodeInternal":                  true, // internal-error
}

func nameFits(name, value string) bool {
	if shortNames[name] {
		return true
	}
	lower := strings.ToLower(name)
	for _, w := range strings.Split(value, "-") {
		if !strings.Contains(lower, w) {
			return false
		}
	}
	return true
}

// docs/errors.md has a row for every code, with the status (and, for content codes, the issue
// type) the code answers with; and no row for a code the service does not raise.
func TestErrorsDocumented(t *testing.T) {
	f, err := os.Open("../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[string][]string{}
	service := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## Codes from the service") {
			service = true
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if service {
			cells = append(cells, "service")
		}
		rows[strings.Trim(cells[0], "`")] = cells
	}
	if !service {
		t.Error(`docs/errors.md has no section "## Codes from the service"`)
	}
	for _, s := range Specs() {
		cells, ok := rows[s.Code]
		if !ok {
			t.Errorf("docs/errors.md has no row for %s", s.Code)
			continue
		}
		inService := cells[len(cells)-1] == "service"
		if inService != (s.Origin == OriginService) {
			t.Errorf("%s is documented in the wrong section", s.Code)
		}
		if cells[1] != strconv.Itoa(s.Status) {
			t.Errorf("%s documented with status %s, answers %d", s.Code, cells[1], s.Status)
		}
		if !inService && cells[2] != "`"+s.IssueType+"`" {
			t.Errorf("%s documented with issue type %s, answers `%s`", s.Code, cells[2], s.IssueType)
		}
	}
	for code := range rows {
		if !Known(code) {
			t.Errorf("docs/errors.md documents %s, which the service does not raise", code)
		}
	}
}

func TestMake(t *testing.T) {
	p := Make(CodeTimezoneMissing, "Observation.effectiveDateTime", "Add Z.")
	if p.Class != ClassInvalid || p.IssueType != "value" || p.Text != "Add Z." {
		t.Errorf("Make: %+v", p)
	}
	p = Make(CodeStoreUnavailable, "", "")
	if p.Class != ClassUnavailable || p.IssueType != "transient" || p.Text != codeTable[CodeStoreUnavailable].text {
		t.Errorf("default text and class issue type: %+v", p)
	}
	p = Make("no-such-code", "", "")
	if p.Class != ClassInternal || p.Text != internalText {
		t.Errorf("unknown code: %+v", p)
	}
	if in := Internal(); in.Status() != 500 || in[0].Text != internalText || in[0].Code != CodeInternal {
		t.Errorf("Internal: %+v", in)
	}
}

func TestListClass(t *testing.T) {
	cases := []struct {
		codes  []string
		status int
	}{
		{[]string{CodePersonnummerFormat, CodeTimezoneMissing}, 422},
		{[]string{CodePersonnummerFormat, CodeIdentifierConflict}, 409},
		{[]string{CodeIdentifierConflict, CodeMalformedJSON}, 400},
		{[]string{CodeMalformedJSON, CodeBodyTooLarge}, 413},
		{[]string{CodeBodyTooLarge, CodeForbidden}, 403},
		{[]string{CodeForbidden, CodeUnauthenticated}, 401},
		{[]string{CodeUnauthenticated, CodeRateLimited}, 429},
		{[]string{CodeRateLimited, CodeOverloaded}, 503},
		{[]string{CodeOverloaded, CodeInternal}, 500},
		{nil, 500},
	}
	for _, tc := range cases {
		var l List
		for _, c := range tc.codes {
			l = append(l, Make(c, "", ""))
		}
		if got := l.Status(); got != tc.status {
			t.Errorf("%v: status %d, want %d", tc.codes, got, tc.status)
		}
	}
}

func TestListError(t *testing.T) {
	l := List{Make(CodeRequired, "Observation.status", ""), Make(CodeTimezoneMissing, "", "")}
	if got := l.Error(); got != "required at Observation.status; timezone-missing" {
		t.Errorf("Error() = %q", got)
	}
	wrapped := fmt.Errorf("%w: %w", New(CodeStoreUnavailable, "", "").WithRetryAfter(5*time.Second), errors.New("dial tcp: refused"))
	got, ok := As(wrapped)
	if !ok || !got.Has(CodeStoreUnavailable) || got.RetryAfter() != 5*time.Second || got.Class() != ClassUnavailable {
		t.Errorf("As(wrapped) = %+v, %v", got, ok)
	}
	if _, ok := As(errors.New("plain")); ok {
		t.Error("As found problems in a plain error")
	}
	if _, ok := As(List{}); ok {
		t.Error("As found problems in an empty list")
	}
}

// Remembered answers are stored as JSON; the stored form of earlier releases reads back the same.
func TestStoredForm(t *testing.T) {
	stored := `[{"Code":"identifier-conflict","Expression":"Observation.identifier[0].value","Text":"t.","Class":2,"IssueType":"","RetryAfter":0}]`
	var l List
	if err := json.Unmarshal([]byte(stored), &l); err != nil {
		t.Fatal(err)
	}
	if l.Status() != 409 || l[0].Expression != "Observation.identifier[0].value" {
		t.Errorf("read back %+v", l)
	}
	b, err := json.Marshal(l)
	if err != nil || string(b) != stored {
		t.Errorf("stored form changed:\n%s\n%s", b, stored)
	}
}
