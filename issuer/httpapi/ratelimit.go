package httpapi

import (
	"math"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
)

// RateLimit is a token bucket per credential: Rate requests per second on average, Burst at once.
type RateLimit struct {
	Rate  float64
	Burst int
}

// rateLimiter keeps one token bucket per principal. Buckets live in a bounded LRU, so a flood of
// distinct principals cannot grow memory without bound.
type rateLimiter struct {
	def RateLimit
	now func() time.Time

	mu      sync.Mutex
	buckets *lru.Cache[string, *rate.Limiter]
}

func newRateLimiter(def RateLimit, now func() time.Time) *rateLimiter {
	if def.Rate <= 0 {
		return nil
	}
	c, _ := lru.New[string, *rate.Limiter](10000)
	return &rateLimiter{def: def, now: now, buckets: c}
}

// allow takes a token for the principal, or returns the rate-limited problem with the wait.
func (r *rateLimiter) allow(p issuer.Principal) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	b, ok := r.buckets.Get(p.ID)
	if !ok {
		b = rate.NewLimiter(rate.Limit(r.def.Rate), r.def.Burst)
		r.buckets.Add(p.ID, b)
	}
	r.mu.Unlock()
	now := r.now()
	res := b.ReserveN(now, 1)
	if !res.OK() {
		return rateLimited(time.Second)
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return rateLimited(d)
	}
	return nil
}

func rateLimited(wait time.Duration) problem.List {
	secs := time.Duration(math.Ceil(wait.Seconds())) * time.Second
	return problem.New(problem.CodeRateLimited, "", "").WithRetryAfter(secs)
}
