package main

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestParseAnswer(t *testing.T) {
	codes, _, _, _ := parseAnswer([]byte(`{"resourceType":"OperationOutcome","issue":[{"details":{"coding":[{"code":"store-unavailable"}]}}]}`))
	if !slices.Equal(codes, []string{"store-unavailable"}) {
		t.Fatalf("codes %v", codes)
	}
	_, source, uvci, hc1 := parseAnswer([]byte(`{"identitySource":"register","testProof":{"metadata":{"uvci":"URN:UVCI:01:SE:X","hc1":"HC1:abc"}}}`))
	if source != "register" || uvci != "URN:UVCI:01:SE:X" || hc1 != "HC1:abc" {
		t.Fatalf("got %q %q %q", source, uvci, hc1)
	}
	if codes, _, _, hc1 := parseAnswer([]byte("<html>")); codes != nil || hc1 != "" {
		t.Fatal("garbage parsed")
	}
}

// TestUnexpected: only 200 and 503 with an allowed code and a Retry-After pass.
func TestUnexpected(t *testing.T) {
	cases := []struct {
		name    string
		answers func(st *stats)
		allowed []string
		want    int
	}{
		{"clean", func(st *stats) {
			st.answer(200, nil, "register", time.Millisecond, "", nil)
			st.answer(503, []string{"store-unavailable"}, "", time.Millisecond, "5", nil)
		}, []string{"store-unavailable"}, 0},
		{"code not allowed", func(st *stats) {
			st.answer(503, []string{"overloaded"}, "", time.Millisecond, "1", nil)
		}, []string{"store-unavailable"}, 1},
		{"no Retry-After", func(st *stats) {
			st.answer(503, []string{"store-unavailable"}, "", time.Millisecond, "", nil)
		}, []string{"store-unavailable"}, 1},
		{"a 500", func(st *stats) {
			st.answer(500, []string{"internal"}, "", time.Millisecond, "", []byte("{}"))
		}, []string{"internal"}, 2}, // the status, and its body as an example
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := newStats()
			tc.answers(st)
			if got := st.unexpected(tc.allowed...); len(got) != tc.want {
				t.Fatalf("unexpected %v, want %d entries", got, tc.want)
			}
		})
	}
}

// TestGap: the longest time without a 200 runs from the phase start, between 200s, and to the
// end of the phase.
func TestGap(t *testing.T) {
	st := newStats()
	st.start = st.start.Add(-time.Second)
	st.last200 = st.start
	st.answer(http.StatusOK, nil, "", 0, "", nil)
	if g := st.longestGap(); g < time.Second {
		t.Fatalf("gap %s, want at least 1 s", g)
	}
	first := st.firstOK()
	if first.IsZero() || !st.lastOK().Equal(first) {
		t.Fatal("first and last 200 not recorded")
	}
}
