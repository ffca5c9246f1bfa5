package valueset

import "testing"

func TestCatalogue(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		set, code     string
		found, active bool
	}{
		{TestType, "LP6464-4", true, true},
		{TestType, "LP217198-3", true, true},
		{TestType, "94309-2", false, false},
		{TestResult, "260415000", true, true},
		{TestResult, "260373001", true, true},
		{DiseaseAgent, "840539006", true, true},
		{VaccineProduct, "EU/1/20/1528", true, true},
		{VaccineManufacturer, "ORG-100030215", true, true},
		{TestManufacturer, "1232", true, true},
		{Country, "SE", true, true},
		{"no-such-set", "SE", false, false},
	}
	for _, tc := range cases {
		found, active := c.Contains(tc.set, tc.code)
		if found != tc.found || active != tc.active {
			t.Errorf("Contains(%s, %s) = %v,%v; want %v,%v", tc.set, tc.code, found, active, tc.found, tc.active)
		}
	}
	in, ok := c.Instruction("EU/1/20/1528")
	if !ok || in.Manufacturer != "ORG-100030215" || len(in.Prophylaxis) == 0 {
		t.Errorf("Comirnaty instruction = %+v, %v", in, ok)
	}
}
