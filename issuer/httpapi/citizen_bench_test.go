package httpapi_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/idp"
)

// BenchmarkCitizenFetch: a citizen's authenticated fetch of one certificate's JSON over a real
// loopback listener (token verified, ownership checked, document from the cache).
func BenchmarkCitizenFetch(b *testing.B) {
	e := newEnv(b, "embedded", envOptions{citizens: true})
	c := e.issueFor(issuer.KindTest, tolvan, "bench")
	tok := e.token(idp.Token{PNR: tolvan})
	url := e.url + certPath(c.uvci)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
