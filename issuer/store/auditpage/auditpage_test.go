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

// FuzzDecode: a cursor comes from outside (a query parameter). Decode never panics, and what it
// accepts encodes back to a cursor that decodes to the same position.
func FuzzDecode(f *testing.F) {
	f.Add(Encode(Position{At: time.Date(2026, 11, 27, 8, 0, 0, 123000, time.UTC), ID: "01a21bdf-7cc1-77d8"}))
	f.Add("djE6MTIzOmU")
	f.Add("")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, cursor string) {
		pos, err := Decode(cursor)
		if err != nil {
			if !errors.Is(err, ErrInvalidCursor) {
				t.Fatalf("Decode(%q): %v is not ErrInvalidCursor", cursor, err)
			}
			return
		}
		again, err := Decode(Encode(pos))
		if err != nil || !again.At.Equal(pos.At) || again.ID != pos.ID {
			t.Fatalf("Decode(%q) = %+v; re-encoded it decodes to %+v, %v", cursor, pos, again, err)
		}
	})
}
