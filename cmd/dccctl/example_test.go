package main

import (
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir"
)

// TestExamplesAreValid: every example is a request the service accepts as it stands.
func TestExamplesAreValid(t *testing.T) {
	p := fhir.NewParser(fhir.Options{Now: func() time.Time { return clock }}) // the clock runCLI gives the command
	for name := range examples {
		r := runCLI(t, "", nil, "example", name, "--pnr", "198503122387")
		if r.code != 0 {
			t.Fatalf("%s: %s", name, r.stderr)
		}
		body := []byte(r.stdout)
		var err error
		switch name {
		case "recovery":
			_, err = p.Recovery(body)
		case "naat", "rat", "no-pnr":
			_, err = p.Test(body)
		default:
			_, err = p.Vaccination(body)
		}
		if err != nil {
			t.Errorf("%s is not a valid request: %v", name, err)
		}
	}
	if r := runCLI(t, "", nil, "example", "flu-shot"); r.code != exitUsage {
		t.Errorf("unknown example: exit %d", r.code)
	}
}
