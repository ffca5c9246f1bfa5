package hcert

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// FuzzDecode feeds arbitrary strings to Decode and Verify. They must not panic, must fail with
// one of the package's errors, and anything that decodes must survive verification attempts.
func FuzzDecode(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.sign(f, testPayload()))
	f.Add(fx.sign(f, testTestPayload()))
	files, _ := filepath.Glob("testdata/dgc-testdata/common/2DCode/raw/*.json")
	for _, file := range files {
		if v := readVector(f, file); v.PREFIX != "" {
			f.Add(v.PREFIX)
		}
	}
	f.Add("HC1:")
	f.Add("HC1:NCF")
	f.Add("")
	trust := trustOf(fx.cert)
	sentinels := []error{ErrTooLarge, ErrPrefix, ErrEncoding, ErrCompression, ErrTrailingData, ErrMalformed, ErrPayload}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Decode(s)
		if err != nil {
			if d != nil {
				t.Fatalf("Decode returned a value with error %v", err)
			}
			known := false
			for _, e := range sentinels {
				known = known || errors.Is(err, e)
			}
			if !known {
				t.Fatalf("Decode error without a sentinel: %v", err)
			}
			return
		}
		if len(d.COSE) > MaxInflatedSize {
			t.Fatalf("decoded %d bytes, above the limit", len(d.COSE))
		}
		_, _ = d.Verify(trust, time.Unix(1<<31, 0))
		_, _ = d.PayloadJSON()
	})
}

// FuzzExactValue feeds arbitrary CBOR to the exact JSON conversion and the typed payload
// reader: no panic, and whatever converts must encode as JSON.
func FuzzExactValue(f *testing.F) {
	for _, seed := range [][]byte{
		{0xa1, 0x62, 'd', 'n', 0xf9, 0x3c, 0x00}, // {"dn": 1.0 as float16}
		{0xc0, 0x74, '2', '0', '2', '1', '-', '0', '6', '-', '0', '7', 'T', '1', '7', ':', '2', '4', ':', '3', '6', 'Z'}, // tag 0
		{0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},                                                           // max int64
		{0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},                                                           // -2^64
		{0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0},                                                                             // NaN
		{0x9f, 0x9f, 0x9f, 0xff, 0xff, 0xff},                                                                             // nested indefinite arrays
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ExactValue(b)
		if err == nil {
			if _, err := json.Marshal(v); err != nil {
				t.Fatalf("converted value does not encode: %v", err)
			}
		}
		if _, err := DecodePayload(b); err != nil && !errors.Is(err, ErrPayload) {
			t.Fatalf("DecodePayload error without ErrPayload: %v", err)
		}
	})
}
