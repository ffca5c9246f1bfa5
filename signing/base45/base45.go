// Package base45 implements the Base45 encoding of RFC 9285, the text form that carries the
// compressed COSE message of an EU DCC inside an alphanumeric QR code.
package base45

import (
	"errors"
	"fmt"
)

// Alphabet is the 45-character alphabet of RFC 9285, section 4. Note the space at index 36.
const Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// Errors returned by Decode; test with errors.Is.
var (
	// ErrLength: the input length leaves a single trailing character (length mod 3 == 1).
	ErrLength = errors.New("base45: invalid length")
	// ErrCharacter: the input holds a character outside the Base45 alphabet.
	ErrCharacter = errors.New("base45: invalid character")
	// ErrValue: a group of characters encodes a value larger than its bytes can hold.
	ErrValue = errors.New("base45: value out of range")
)

// invalid marks bytes that are not in the alphabet.
const invalid = 0xff

// decodeTable maps an input byte to its value in the alphabet, or invalid.
var decodeTable = func() [256]byte {
	var t [256]byte
	for i := range t {
		t[i] = invalid
	}
	for i := 0; i < len(Alphabet); i++ {
		t[Alphabet[i]] = byte(i)
	}
	return t
}()

// EncodedLen returns the length of the Base45 encoding of n bytes.
func EncodedLen(n int) int { return n/2*3 + n%2*2 }

// Encode returns the Base45 encoding of src.
func Encode(src []byte) string {
	return string(AppendEncode(make([]byte, 0, EncodedLen(len(src))), src))
}

// AppendEncode appends the Base45 encoding of src to dst and returns the extended slice.
func AppendEncode(dst, src []byte) []byte {
	for i := 0; i+1 < len(src); i += 2 {
		n := uint(src[i])<<8 | uint(src[i+1])
		c, n := n%45, n/45
		dst = append(dst, Alphabet[c], Alphabet[n%45], Alphabet[n/45])
	}
	if len(src)%2 == 1 {
		n := uint(src[len(src)-1])
		dst = append(dst, Alphabet[n%45], Alphabet[n/45])
	}
	return dst
}

// DecodedLen returns the number of bytes that n characters of valid Base45 decode to.
func DecodedLen(n int) int { return n/3*2 + n%3/2 }

// Decode returns the bytes that s encodes. It rejects characters outside the alphabet
// (lower-case letters included), a dangling single character and groups whose value
// overflows, each with an error that names the offset.
func Decode(s string) ([]byte, error) {
	if len(s)%3 == 1 {
		return nil, fmt.Errorf("%w: %d characters", ErrLength, len(s))
	}
	out := make([]byte, 0, DecodedLen(len(s)))
	for i := 0; i < len(s); i += 3 {
		rest := len(s) - i
		if rest >= 3 {
			c, d, e := decodeTable[s[i]], decodeTable[s[i+1]], decodeTable[s[i+2]]
			if c == invalid || d == invalid || e == invalid {
				return nil, fmt.Errorf("%w at offset %d", ErrCharacter, i+firstInvalid(s[i:i+3]))
			}
			n := int(c) + int(d)*45 + int(e)*45*45
			if n > 0xffff {
				return nil, fmt.Errorf("%w at offset %d", ErrValue, i)
			}
			out = append(out, byte(n>>8), byte(n))
			continue
		}
		c, d := decodeTable[s[i]], decodeTable[s[i+1]]
		if c == invalid || d == invalid {
			return nil, fmt.Errorf("%w at offset %d", ErrCharacter, i+firstInvalid(s[i:i+2]))
		}
		n := int(c) + int(d)*45
		if n > 0xff {
			return nil, fmt.Errorf("%w at offset %d", ErrValue, i)
		}
		out = append(out, byte(n))
	}
	return out, nil
}

func firstInvalid(s string) int {
	for i := 0; i < len(s); i++ {
		if decodeTable[s[i]] == invalid {
			return i
		}
	}
	return 0
}
