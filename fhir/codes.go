package fhir

import "github.com/sedcc/dcc/fhir/problem"

// report collects problems in the order they are found. Codes, their classes and issue types
// live in the problem package's one table; the codes this package raises are those of origin
// problem.OriginContent.
type report struct {
	problems problem.List
}

// add records one problem; class and issue type come from the table.
func (r *report) add(code, expression, text string) {
	r.problems = append(r.problems, problem.Make(code, expression, text))
}

// err is nil when nothing was found, else the problem.List.
func (r *report) err() error {
	if len(r.problems) == 0 {
		return nil
	}
	return r.problems
}
