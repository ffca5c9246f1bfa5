package setup

import (
	"strings"
	"testing"
	"time"
)

func TestParseKeySchedule(t *testing.T) {
	switchAt := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    []KeyStage
		wantErr string
	}{
		{in: "dsc-a", want: []KeyStage{{Label: "dsc-a"}}},
		{in: "dsc-a, dsc-b@2026-12-01T00:00:00Z", want: []KeyStage{{Label: "dsc-a"}, {Label: "dsc-b", From: switchAt}}},
		{in: "dsc-a,dsc-b", wantErr: "needs the time it takes over"},
		{in: "dsc-a@2026-12-01T00:00:00Z", wantErr: "first key signs from the start"},
		{in: "dsc-a,dsc-b@tomorrow", wantErr: "not an RFC 3339 time"},
		{in: "dsc-a,,dsc-b@2026-12-01T00:00:00Z", wantErr: "empty key label"},
		{in: "a,b@2026-12-01T00:00:00Z,c@2026-11-01T00:00:00Z", wantErr: "must increase"},
	}
	for _, tt := range tests {
		got, err := ParseKeySchedule(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("%q: %v, %v", tt.in, got, err)
			continue
		}
		for i := range got {
			if got[i].Label != tt.want[i].Label || !got[i].From.Equal(tt.want[i].From) {
				t.Errorf("%q: stage %d = %+v, want %+v", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

func TestHSMVariablesNamedWhenIncomplete(t *testing.T) {
	_, err := FromEnv(env(map[string]string{
		"DCC_PRODUCTION_PKCS11_MODULE": "/usr/lib/softhsm/libsofthsm2.so",
		"DCC_PRODUCTION_PKCS11_KEY":    "dsc-a",
		"DCC_SANDBOX_PKCS11_TOKEN":     "sandbox",
		"DCC_PKCS11_SESSIONS":          "0",
	}))
	if err == nil {
		t.Fatal("an incomplete token configuration was accepted")
	}
	for _, want := range []string{"DCC_PRODUCTION_PKCS11_TOKEN", "DCC_PRODUCTION_PKCS11_PIN_FILE", "DCC_PRODUCTION_CSCA_FILE",
		"DCC_SANDBOX_PKCS11_MODULE", "DCC_PKCS11_SESSIONS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %s: %v", want, err)
		}
	}
	c, err := FromEnv(env(map[string]string{
		"DCC_SANDBOX_PKCS11_MODULE":   "/usr/lib/softhsm/libsofthsm2.so",
		"DCC_SANDBOX_PKCS11_TOKEN":    "sandbox",
		"DCC_SANDBOX_PKCS11_PIN_FILE": "/etc/dcc/pin",
		"DCC_SANDBOX_PKCS11_KEY":      "a,b@2026-12-01T00:00:00Z",
		"DCC_SANDBOX_CSCA_FILE":       "/etc/dcc/csca.crt",
		"DCC_PKCS11_SESSIONS":         "16",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SandboxHSM.Token != "sandbox" || len(c.SandboxHSM.Keys) != 2 || c.PKCS11Sessions != 16 || c.ProductionHSM.configured() {
		t.Errorf("parsed %+v / %+v", c.SandboxHSM, c.PKCS11Sessions)
	}
}
