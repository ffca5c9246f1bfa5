package httpapi

import (
	"strings"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/problem"
)

func TestOverloaded(t *testing.T) {
	p := overloaded(2500 * time.Millisecond)
	if len(p) != 1 || p[0].Code != problem.CodeOverloaded || p.Status() != 503 || p.RetryAfter() != 2500*time.Millisecond {
		t.Fatalf("overloaded = %+v", p)
	}
	if !strings.Contains(p[0].Text, "after 3 seconds") {
		t.Fatalf("text %q does not name the rounded-up wait", p[0].Text)
	}
	if !strings.Contains(overloaded(time.Millisecond)[0].Text, "after 1 second ") {
		t.Fatalf("text %q", overloaded(time.Millisecond)[0].Text)
	}
}
