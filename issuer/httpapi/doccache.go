package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/signing/dcc"
)

// DefaultDocumentCacheBytes bounds the rendered documents kept for citizens' fetches.
const DefaultDocumentCacheBytes = 64 << 20

// representation is one rendered answer with its strong validator.
type representation struct {
	body []byte
	once sync.Once
	tag  string
}

func newRepresentation(body []byte) *representation {
	return &representation{body: body}
}

// etag is the body's strong validator, computed on first use: the documents of most certificates
// are rendered for the provider's answer and never fetched by the citizen, and issuance need not
// hash them.
func (r *representation) etag() string {
	r.once.Do(func() {
		sum := sha256.Sum256(r.body)
		r.tag = `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	})
	return r.tag
}

// documents are the three answers of one certificate. A signed certificate never changes, so
// they are made once and served from here until evicted.
type documents struct {
	json, qr, pdf     *representation
	qrWidth, qrHeight int
	// subjectKey is whose certificate it is; cert and payload what was signed.
	subjectKey []byte
	cert       issuer.Certificate
	payload    dcc.Certificate
	fileName   string
}

func (d *documents) size() int64 {
	n := len(d.cert.HC1) + 1024
	for _, r := range []*representation{d.json, d.qr, d.pdf} {
		if r != nil {
			n += len(r.body)
		}
	}
	return int64(n)
}

// docCache keeps rendered documents by UVCI, least recently used evicted first, bounded by
// bytes. Concurrent misses for one UVCI render once.
type docCache struct {
	limit  int64
	bytes  atomic.Int64
	lru    *lru.Cache[string, *documents]
	flight singleflight.Group
	mu     sync.Mutex // serialises eviction to the byte limit
	hits   atomic.Uint64
	misses atomic.Uint64
}

func newDocCache(limit int64) *docCache {
	if limit <= 0 {
		limit = DefaultDocumentCacheBytes
	}
	c := &docCache{limit: limit}
	// The entry count bound is far above what the byte limit allows; bytes decide.
	l, _ := lru.NewWithEvict[string, *documents](1<<20, func(_ string, d *documents) {
		c.bytes.Add(-d.size())
	})
	c.lru = l
	return c
}

func (c *docCache) get(uvci string) (*documents, bool) {
	d, ok := c.lru.Get(uvci)
	if ok {
		c.hits.Add(1)
	}
	return d, ok
}

func (c *docCache) add(uvci string, d *documents) {
	if d.size() > c.limit {
		return
	}
	if old, ok := c.lru.Peek(uvci); ok && old == d {
		return
	}
	// Add evicts through the callback when it replaces an entry, so bytes stay exact.
	c.lru.Remove(uvci)
	c.bytes.Add(d.size())
	c.lru.Add(uvci, d)
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.bytes.Load() > c.limit {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
	}
}

// load returns the cached documents of uvci or makes them with render, once for all
// concurrent callers.
func (c *docCache) load(uvci string, render func() (*documents, error)) (*documents, error) {
	if d, ok := c.get(uvci); ok {
		return d, nil
	}
	v, err, _ := c.flight.Do(uvci, func() (any, error) {
		if d, ok := c.lru.Peek(uvci); ok {
			return d, nil
		}
		c.misses.Add(1)
		d, err := render()
		if err != nil {
			return nil, err
		}
		c.add(uvci, d)
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*documents), nil
}
