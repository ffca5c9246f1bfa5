package uvci

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// UVCIs with check characters carried by the EU test vectors (dgc-testdata) of Austria,
// Denmark and Iceland, and the output of the eHN reference implementation
// (eu-dcc-schema, Luhn-Mod-N/luhn_mod_n.py) run on its own usage example. The reference
// docstring claims "S" for MY/INPUT/STRING, but its code yields "H"; the Finnish vectors use
// another computation and are not reproduced by the reference code either (docs/uvci.md).
func TestCheckCharacterReference(t *testing.T) {
	cases := []string{
		"URN:UVCI:01:NL:MY/INPUT/STRINGH",
		"URN:UVCI:01:NL:187/37512422923Z",
		"URN:UVCI:01:AT:10807843F94AEE0EE5093FBC254BD813#B",
		"URN:UVCI:01:AT:71EE2559DE38C6BF7304FB65A1A451EC#3",
		"URN:UVCI:01:AT:858CC18CFCF5965EF82F60E493349AA5#K",
		"URN:UVCI:01:AT:B5921A35D6A0D696421B3E2462178297#I",
		"URN:UVCI:01:DK:0EF88044F7935DF2B4A938A38C14C97C#C",
		"URN:UVCI:01:DK:1B9B48CA1F4351F4A4C023D3815A74A9#I",
		"URN:UVCI:01:DK:1D6DAB71F99A5C87A657D6D904558001#R",
		"URN:UVCI:01:DK:AAF8DC68A9B655528BA581CA0D04353F#Y",
		"URN:UVCI:01:DK:B19D10B4E18551559EBDEE46248DA883#S",
		"URN:UVCI:01:DK:B986830007345F99AE898FB82C6C61F2#A",
		"URN:UVCI:01:DK:F573106A0A315AB8A7F7016329C30550#2",
		"URN:UVCI:01:IS:T123123323#7",
		"URN:UVCI:01:IS:VERA1234#F",
		"URN:UVCI:01:IS:VERA3333#D",
	}
	for _, c := range cases {
		body, check, ok := strings.Cut(c, "#")
		if !ok {
			body, check = c[:len(c)-1], c[len(c)-1:]
		}
		got, err := CheckCharacter(body)
		if err != nil {
			t.Errorf("CheckCharacter(%q): %v", body, err)
			continue
		}
		if string(got) != check {
			t.Errorf("CheckCharacter(%q) = %q, want %q", body, got, check)
		}
	}
}

func TestValid(t *testing.T) {
	good := []string{
		"URN:UVCI:01:SE:EHM/V100000024GI5HM", // no check character: allowed
		"URN:UVCI:01:AT:858CC18CFCF5965EF82F60E493349AA5#K",
		"URN:UVCI:01:IS:VERA3333#D",
	}
	for _, s := range good {
		if err := Valid(s); err != nil {
			t.Errorf("Valid(%q) = %v", s, err)
		}
	}
	bad := []struct {
		s    string
		want error
	}{
		{"URN:UVCI:01:AT:858CC18CFCF5965EF82F60E493349AA5#A", ErrChecksum},
		{"URN:UVCI:01:FI:AELZ0DC71KA2SJWUETRTAFEL2##", ErrFormat},
		{"urn:uvci:01:NL:00b176a4d9d4452ba540f6eec8631026", ErrFormat},
		{"URN:UVCI:01DE/5CWLU12RNOB9RXSEOP6FG8#W", ErrFormat},
		{"URN:UVCI:01:SE:EHM V1", ErrFormat},
		{"URN:UVCI:01:SE:" + strings.Repeat("A", 70), ErrLength},
	}
	for _, c := range bad {
		if err := Valid(c.s); !errors.Is(err, c.want) {
			t.Errorf("Valid(%q) = %v, want %v", c.s, err, c.want)
		}
	}
}

// Every single-character substitution is caught by the check character.
func TestCheckCharacterDetectsSubstitution(t *testing.T) {
	g := Generator{Country: "SE", Prefix: "EHM"}
	u, err := g.For("PROVIDER1", "result-42")
	if err != nil {
		t.Fatal(err)
	}
	start := len(Prefix) + 3
	for i := start; i < len(u)-2; i++ {
		for j := 0; j < len(CodePoints); j++ {
			if CodePoints[j] == u[i] {
				continue
			}
			mutated := u[:i] + string(CodePoints[j]) + u[i+1:]
			if err := Valid(mutated); !errors.Is(err, ErrChecksum) {
				t.Fatalf("substitution at %d (%q) not detected: %v", i, mutated, err)
			}
		}
	}
}

func TestGenerator(t *testing.T) {
	g := Generator{Country: "SE", Prefix: "EHM"}
	a, err := g.For("PROVIDER1", "result-42")
	if err != nil {
		t.Fatal(err)
	}
	if err := Valid(a); err != nil {
		t.Fatalf("Valid(%q) = %v", a, err)
	}
	if !strings.HasPrefix(a, "URN:UVCI:01:SE:EHM/PROVIDER1/") || len(a) != len("URN:UVCI:01:SE:EHM/PROVIDER1/")+32+2 {
		t.Errorf("unexpected shape %q", a)
	}
	again, _ := g.For("PROVIDER1", "result-42")
	if again != a {
		t.Errorf("not deterministic: %q then %q", a, again)
	}
	// Length prefixes keep ("AB","c") and ("A","bc") apart in the digest too.
	x, _ := g.For("AB", "c")
	y, _ := g.For("A", "bc")
	if x == y || x[strings.LastIndex(x, "/"):] == y[strings.LastIndex(y, "/"):] {
		t.Errorf("ambiguous encoding: %q %q", x, y)
	}
	// Two providers with the same identifier: different UVCIs, by construction.
	p1, _ := g.For("P1", "result-42")
	p2, _ := g.For("P2", "result-42")
	if p1 == p2 || !strings.Contains(p1, "/P1/") || !strings.Contains(p2, "/P2/") {
		t.Errorf("providers not kept apart: %q %q", p1, p2)
	}
	seen := map[string]bool{}
	for p := 0; p < 20; p++ {
		for i := 0; i < 500; i++ {
			u, err := g.For(fmt.Sprint("P", p), fmt.Sprint(i))
			if err != nil {
				t.Fatal(err)
			}
			if seen[u] {
				t.Fatalf("collision at %s", u)
			}
			seen[u] = true
		}
	}
	noPrefix, err := Generator{Country: "SE"}.For("P", "i")
	if err != nil || !strings.HasPrefix(noPrefix, "URN:UVCI:01:SE:P/") || strings.Count(noPrefix[15:], "/") != 1 {
		t.Errorf("without prefix: %q, %v", noPrefix, err)
	}
}

func TestGeneratorErrors(t *testing.T) {
	cases := []struct {
		g    Generator
		p, i string
		want error
	}{
		{Generator{Country: "se"}, "P", "i", ErrFormat},
		{Generator{Country: "SWE"}, "P", "i", ErrFormat},
		{Generator{Country: "SE", Prefix: "EHM/"}, "P", "i", ErrFormat},
		{Generator{Country: "SE"}, "", "i", ErrFormat},
		{Generator{Country: "SE"}, "p_lower", "i", ErrFormat},
		{Generator{Country: "SE"}, strings.Repeat("P", 17), "i", ErrFormat},
		{Generator{Country: "SE"}, "P", "", ErrFormat},
		{Generator{Country: "SE", Prefix: strings.Repeat("A", 40)}, "P", "i", ErrLength},
	}
	for _, c := range cases {
		if _, err := c.g.For(c.p, c.i); !errors.Is(err, c.want) {
			t.Errorf("%+v.For = %v, want %v", c.g, err, c.want)
		}
	}
}
