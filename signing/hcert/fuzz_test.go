package hcert

import (
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
