package issuer

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestEveryCodeDocumented: each problem code the service emits has a row in docs/errors.md.
func TestEveryCodeDocumented(t *testing.T) {
	src, err := os.ReadFile("codes.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	codes := regexp.MustCompile(`(?m)^\s+Code\w+\s+= "([a-z-]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(codes) < 10 {
		t.Fatalf("found only %d codes in codes.go", len(codes))
	}
	for _, c := range codes {
		if !strings.Contains(string(doc), "| `"+c[1]+"` |") {
			t.Errorf("code %s has no row in docs/errors.md", c[1])
		}
	}
}
