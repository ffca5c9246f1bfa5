package httpapi

import "testing"

func TestAcceptLanguage(t *testing.T) {
	for header, want := range map[string]string{
		"":                           "sv",
		"en-GB,en;q=0.9,sv;q=0.8":    "en",
		"sv-SE, en;q=0.5":            "sv",
		"de-DE,de;q=0.9,EN-us;q=0.5": "en",
		"fi, de":                     "sv",
		" nb ; q=1 , sv-FI ; q=0.4":  "sv",
		"en;q=0.9":                   "en",
	} {
		if got := acceptLanguage(header); got != want {
			t.Errorf("acceptLanguage(%q) = %q, want %q", header, got, want)
		}
	}
}
