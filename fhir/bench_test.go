package fhir_test

import (
	"testing"

	ft "github.com/sedcc/dcc/fhir/fhirtest"
)

// go test -run '^$' -bench . -benchmem ./fhir/

func BenchmarkTestNAAT(b *testing.B) {
	p := newParser(ft.FixtureNow)
	body := ft.Observation(ft.NAAT, ft.Now(ft.FixtureNow))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := p.Test(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTestInvalid(b *testing.B) {
	p := newParser(ft.FixtureNow)
	body := ft.Observation(ft.RAT, ft.Now(ft.FixtureNow), ft.PNR("19121212-1212"), ft.AtRaw("2022-02-14T09:00:00"), ft.Device("999999"))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := p.Test(body); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkVaccination(b *testing.B) {
	p := newParser(ft.FixtureNow)
	body := ft.Immunization(ft.Comirnaty, ft.Now(ft.FixtureNow))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := p.Vaccination(body); err != nil {
			b.Fatal(err)
		}
	}
}
