package fhir_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	ft "github.com/sedcc/dcc/fhir/fhirtest"
)

var update = flag.Bool("update", false, "rewrite the fixtures under testdata/ from fhirtest")

// TestFixtures keeps the committed example requests under testdata/ equal to what fhirtest
// builds at FixtureNow (go test ./fhir -run TestFixtures -update rewrites them), and checks that
// each is valid at its own time and, retimed, at any other.
func TestFixtures(t *testing.T) {
	for _, f := range ft.Fixtures() {
		t.Run(f.File, func(t *testing.T) {
			path := filepath.Join("testdata", f.File)
			want := f.Build(ft.Now(ft.FixtureNow))
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s differs from fhirtest's %s body; run go test ./fhir -run TestFixtures -update", path, f.Kind)
			}
			e := test
			age := time.Hour
			switch {
			case f.Recovery:
				e, age = recovery, 30*24*time.Hour
			case f.Resource == "Immunization":
				e = vaccination
			}
			if _, err := parse(newParser(ft.FixtureNow), e, got); err != nil {
				t.Fatalf("invalid at FixtureNow: %v", err)
			}
			if _, err := parse(newParser(now), e, ft.Retime(got, now.Add(-age))); err != nil {
				t.Fatalf("invalid retimed: %v", err)
			}
		})
	}
}
