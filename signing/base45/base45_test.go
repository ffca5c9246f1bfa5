package base45

import (
	"bytes"
	"errors"
	"testing"
)

// Examples from RFC 9285, section 4.3 and 4.4.
func TestRFCExamples(t *testing.T) {
	cases := []struct{ plain, encoded string }{
		{"AB", "BB8"},
		{"Hello!!", "%69 VD92EX0"},
		{"base-45", "UJCLQE7W581"},
		{"ietf!", "QED8WEX0"},
		{"", ""},
	}
	for _, c := range cases {
		if got := Encode([]byte(c.plain)); got != c.encoded {
			t.Errorf("Encode(%q) = %q, want %q", c.plain, got, c.encoded)
		}
		got, err := Decode(c.encoded)
		if err != nil {
			t.Errorf("Decode(%q): %v", c.encoded, err)
			continue
		}
		if string(got) != c.plain {
			t.Errorf("Decode(%q) = %q, want %q", c.encoded, got, c.plain)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		in   string
		want error
	}{
		{"A", ErrLength},
		{"BB8A", ErrLength},
		{"GGW", ErrValue}, // 16 + 16*45 + 32*2025 = 65536
		{":::", ErrValue}, // 44 + 44*45 + 44*2025
		{"::", ErrValue},  // 44 + 44*45 > 255
		{"bb8", ErrCharacter},
		{"BB\n", ErrCharacter},
		{"B\x00", ErrCharacter},
		{"BB8\xff\xfe", ErrCharacter},
	}
	for _, c := range cases {
		_, err := Decode(c.in)
		if !errors.Is(err, c.want) {
			t.Errorf("Decode(%q) error = %v, want %v", c.in, err, c.want)
		}
	}
}

func TestBoundaryValues(t *testing.T) {
	// 0xffff is the largest value a triple may hold; 0xff the largest for a pair.
	for _, in := range [][]byte{{0xff, 0xff}, {0xff}, {0, 0}, {0}, {0xff, 0xff, 0xff}} {
		enc := Encode(in)
		if len(enc) != EncodedLen(len(in)) {
			t.Errorf("EncodedLen(%d) = %d, encoding has %d", len(in), EncodedLen(len(in)), len(enc))
		}
		got, err := Decode(enc)
		if err != nil || !bytes.Equal(got, in) {
			t.Errorf("round trip %x: got %x, %v", in, got, err)
		}
	}
}

func TestRoundTripAllPairs(t *testing.T) {
	buf := make([]byte, 0, 2*256*256)
	for i := 0; i < 256*256; i++ {
		buf = append(buf, byte(i>>8), byte(i))
	}
	for _, n := range []int{len(buf), len(buf) - 1} {
		got, err := Decode(Encode(buf[:n]))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if !bytes.Equal(got, buf[:n]) {
			t.Fatalf("round trip of %d bytes differs", n)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "BB8", "%69 VD92EX0", "GGW", "::", "A", "6BFOXN%TS3DH"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Decode(s)
		if err != nil {
			if b != nil {
				t.Fatalf("Decode(%q) returned bytes with error %v", s, err)
			}
			return
		}
		if len(b) != DecodedLen(len(s)) {
			t.Fatalf("Decode(%q): %d bytes, DecodedLen says %d", s, len(b), DecodedLen(len(s)))
		}
		// Base45 is canonical: a valid input is the encoding of what it decodes to.
		if enc := Encode(b); enc != s {
			t.Fatalf("Encode(Decode(%q)) = %q", s, enc)
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("Hello!!"))
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := Decode(Encode(in))
		if err != nil {
			t.Fatalf("Decode(Encode(%x)): %v", in, err)
		}
		if !bytes.Equal(got, in) {
			t.Fatalf("round trip of %x gave %x", in, got)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	in := bytes.Repeat([]byte{0x78, 0xda, 0xbb, 0xd4}, 80)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Encode(in)
	}
}

func BenchmarkDecode(b *testing.B) {
	s := Encode(bytes.Repeat([]byte{0x78, 0xda, 0xbb, 0xd4}, 80))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(s); err != nil {
			b.Fatal(err)
		}
	}
}
