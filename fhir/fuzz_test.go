package fhir_test

import (
	"testing"

	"github.com/sedcc/dcc/fhir"
	ft "github.com/sedcc/dcc/fhir/fhirtest"
	"github.com/sedcc/dcc/fhir/problem"
)

// The fuzz targets run at the rule tests' clock, seeded with the fixtures and every rule test's
// body, so that the fuzzer starts from bodies that reach every rule. The parser must never panic, must answer every body
// with either a complete domain value or Problems with known codes, and never both half-way.

func seeds(f *testing.F, resource string, extra ...[]byte) {
	for _, fx := range ft.Fixtures() {
		if fx.Resource == resource {
			f.Add(fx.Build(ft.Now(now)))
		}
	}
	for _, tc := range ruleCases() {
		if (tc.e == vaccination) == (resource == "Immunization") && len(tc.body) < 8<<10 {
			f.Add(tc.body)
		}
	}
	for _, b := range extra {
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"resourceType":"` + resource + `","contained":[null,{"resourceType":"Patient","id":"1","identifier":[{}]}]}`))
}

func FuzzTest(f *testing.F) {
	seeds(f, "Observation",
		ft.Observation(ft.NAAT, ft.Now(now), ft.PNR("19121212-1212"), ft.AtRaw("2022-02-14T09:00:00")),
		ft.Observation(ft.RAT, ft.Now(now), ft.Device("1065"), ft.Set("contained[1].id", "1")),
		ft.Observation(ft.NoPNR, ft.Now(now), ft.BirthDate("1974-02-30"), ft.Set("contained[0].name[0].given", "x")),
	)
	p := newParser(now)
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := p.Test(body)
		checkTest(t, res, err, false)
	})
}

func FuzzRecovery(f *testing.F) {
	seeds(f, "Observation",
		ft.Observation(ft.Recovery, ft.Now(now), ft.TestType(ft.TestTypeRAT), ft.Age(5*24*60*60*1e9)),
	)
	p := newParser(now)
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := p.Recovery(body)
		checkTest(t, res, err, true)
	})
}

func FuzzVaccination(f *testing.F) {
	seeds(f, "Immunization",
		ft.Immunization(ft.Comirnaty, ft.Now(now), ft.Prophylaxis("J07BX03"), ft.Dose(0, 10), ft.Manufacturer("ORG-1")),
		ft.Immunization(ft.Jcovden, ft.Now(now), ft.Dose(2, 1), ft.WithoutPNR(), ft.Name("Ødegård", "Åse"), ft.BirthDate("1974")),
	)
	p := newParser(now)
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := p.Vaccination(body)
		if err != nil {
			checkProblems(t, err)
			return
		}
		if v.Identifier == "" || v.Product == "" || v.Manufacturer == "" || v.Prophylaxis == "" || v.Disease != fhir.DiseaseCOVID19 ||
			v.Dose < 1 || v.Dose > fhir.MaxDoses || v.Series < 1 || v.Series > fhir.MaxDoses || v.OccurredAt.IsZero() {
			t.Fatalf("accepted an incomplete vaccination: %+v", v)
		}
		checkSubject(t, v.Subject)
	})
}

func checkTest(t *testing.T, res fhir.TestResult, err error, recovery bool) {
	t.Helper()
	if err != nil {
		checkProblems(t, err)
		return
	}
	want := fhir.ResultNotDetected
	if recovery {
		want = fhir.ResultDetected
	}
	switch {
	case res.Identifier == "", res.Disease != fhir.DiseaseCOVID19, res.Result != want, res.SampledAt.IsZero():
		t.Fatalf("accepted an incomplete test: %+v", res)
	case res.TestType == fhir.TestTypeRAT && (res.DeviceID == "" || recovery):
		t.Fatalf("accepted a RAT test without device or for recovery: %+v", res)
	case res.TestType == fhir.TestTypeNAAT && res.Facility == "":
		t.Fatalf("accepted a NAAT test without testing centre: %+v", res)
	case res.TestType != fhir.TestTypeRAT && res.TestType != fhir.TestTypeNAAT:
		t.Fatalf("accepted test type %q", res.TestType)
	}
	checkSubject(t, res.Subject)
}

func checkSubject(t *testing.T, s fhir.Subject) {
	t.Helper()
	if s.PNR.IsZero() && (s.BirthDate == "" || s.FamilyName == "" && s.GivenName == "") {
		t.Fatalf("accepted a subject without identity: %+v", s)
	}
}

func checkProblems(t *testing.T, err error) {
	t.Helper()
	ps, ok := problem.As(err)
	if !ok {
		t.Fatalf("error is not a problem.List: %v", err)
	}
	known := map[string]bool{}
	for _, c := range contentCodes() {
		known[c.Code] = true
	}
	for _, pr := range ps {
		if !known[pr.Code] || pr.Text == "" {
			t.Fatalf("problem %+v", pr)
		}
	}
}
