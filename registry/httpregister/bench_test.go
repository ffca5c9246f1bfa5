package httpregister

import (
	"context"
	"testing"

	"github.com/sedcc/dcc/registry/standin"
)

// BenchmarkLookup measures a look-up answered by the stand-in over loopback HTTP, and one
// answered from the cache.
func BenchmarkLookup(b *testing.B) {
	for _, bc := range []struct {
		name  string
		cache bool
	}{{"register", false}, {"cached", true}} {
		b.Run(bc.name, func(b *testing.B) {
			o := fast()
			if !bc.cache {
				o.CacheTTL = -1
			}
			f := newFixture(b, o, standin.Options{})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.client.Lookup(ctx, f.tolvan); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
