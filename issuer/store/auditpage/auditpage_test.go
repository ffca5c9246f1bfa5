package auditpage

import (
	"errors"
	"testing"
	"time"
)

func TestSize(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{-1, DefaultLimit}, {0, DefaultLimit}, {1, 1}, {50, 50}, {499, 499}, {500, 500}, {501, 500}, {1 << 30, 500},
	} {
		if got := Size(tc.in); got != tc.want {
			t.Errorf("Size(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, p := range []Position{
		{At: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC), ID: "0195f0a2-7c1e-7000-8000-000000000001"},
		{At: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), ID: "a:b:c"},
		{At: time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC), ID: "x"},
	} {
		got, err := Decode(Encode(p))
		if err != nil {
			t.Fatalf("Decode(Encode(%v)): %v", p, err)
		}
		if !got.At.Equal(p.At) || got.ID != p.ID {
			t.Errorf("round trip of %v gave %v", p, got)
		}
	}
}

func TestCursorTruncatesToMicroseconds(t *testing.T) {
	p := Position{At: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC), ID: "e"}
	got, err := Decode(Encode(p))
	if err != nil {
		t.Fatal(err)
	}
	if want := p.At.Truncate(time.Microsecond); !got.At.Equal(want) {
		t.Errorf("At = %v, want %v", got.At, want)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, c := range []string{"", "!!!", "djE6MTIz", "djI6MTIzOmU", "djE6eHl6OmU", "djE6MTIzOg"} {
		if _, err := Decode(c); !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("Decode(%q) error = %v, want ErrInvalidCursor", c, err)
		}
	}
}
