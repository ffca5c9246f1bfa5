package fhirtest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/registry/pnr"
)

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return m
}

func TestKeyOrder(t *testing.T) {
	b := Observation(NAAT)
	if !strings.HasPrefix(string(b), "{\n  \"resourceType\": \"Observation\",\n  \"contained\"") {
		t.Fatalf("resourceType not first:\n%s", b[:80])
	}
}

func TestSetRemove(t *testing.T) {
	b := Observation(RAT,
		Set("status", "amended"),
		Set("meta.tag[1].code", "X"),
		Set("contained[0].identifier[0].value", "1"),
		Remove("performer"),
		Remove("contained[1]"),
		Remove("no.such[3].thing"),
	)
	m := decode(t, b)
	if m["status"] != "amended" || m["performer"] != nil {
		t.Errorf("status %v performer %v", m["status"], m["performer"])
	}
	tags := m["meta"].(map[string]any)["tag"].([]any)
	if len(tags) != 2 || tags[0] != nil || tags[1].(map[string]any)["code"] != "X" {
		t.Errorf("tags %v", tags)
	}
	c := m["contained"].([]any)
	if len(c) != 2 || c[1].(map[string]any)["resourceType"] != "Device" {
		t.Errorf("contained %v", c)
	}
}

func TestTimes(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		b    []byte
		key  string
		want string
	}{
		{Observation(NAAT, Now(now)), "effectiveDateTime", "2026-02-28T16:00:00Z"},
		{Observation(Recovery, Now(now)), "effectiveDateTime", "2026-01-30T12:00:00Z"},
		{Observation(RAT, Now(now), Age(time.Hour)), "effectiveDateTime", "2026-03-01T11:00:00Z"},
		{Observation(RAT, At(now), Now(time.Time{})), "effectiveDateTime", "2026-03-01T12:00:00Z"},
		{Observation(RAT, AtRaw("x")), "effectiveDateTime", "x"},
		{Immunization(Comirnaty, Now(now)), "occurrenceDateTime", "2026-03-01T11:20:00Z"},
		{Retime(Immunization(Jcovden), now), "occurrenceDateTime", "2026-03-01T12:00:00Z"},
	} {
		if got := decode(t, tc.b)[tc.key]; got != tc.want {
			t.Errorf("%s = %v, want %s", tc.key, got, tc.want)
		}
	}
}

func TestMakeNumbers(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := pnr.Parse(MakePersonnummer("19900101", "238"), pnr.Personnummer, at); err != nil {
		t.Error(err)
	}
	n, err := pnr.Parse(MakeSamordningsnummer("19900131", "238"), pnr.Samordningsnummer, at)
	if err != nil || n.BirthDate().Format(time.DateOnly) != "1990-01-31" {
		t.Errorf("%v %v", n.BirthDate(), err)
	}
}

func TestOptions(t *testing.T) {
	m := decode(t, Observation(NoPNR, PNR(DefaultPNR), Performer("X"), TestData()))
	c := m["contained"].([]any)
	if len(c) != 3 || m["performer"] == nil || m["meta"] == nil {
		t.Errorf("%v", m)
	}
	m = decode(t, Immunization(Spikevax, Prophylaxis("1119349007"), Manufacturer(""), Dose(4, 3), WithoutPerformer()))
	codings := m["vaccineCode"].(map[string]any)["coding"].([]any)
	if len(codings) != 2 || m["manufacturer"] != nil || m["performer"] != nil {
		t.Errorf("%v", m)
	}
	pa := m["protocolApplied"].([]any)[0].(map[string]any)
	if pa["doseNumberPositiveInt"] != 4.0 || pa["seriesDosesPositiveInt"] != 3.0 {
		t.Errorf("%v", pa)
	}
}
