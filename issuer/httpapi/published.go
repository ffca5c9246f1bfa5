package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/singleflight"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/signing/trust"
)

// publishedFresh is how long a built published document (the trust list, the revocation list)
// is served before it is built again: however many verifiers ask, each document costs one store
// read, one encoding and one signature per interval, not one per request. A revocation made
// through this process is in its list at once; one made through another replica, within the
// interval (verifiers themselves cache for publishedMaxAge).
const publishedFresh = 10 * time.Second

// Names of the published documents in the cache.
const (
	docTrustList   = "trust-list"
	docRevocations = "revocations"
)

// publishedDoc is a published document ready to serve.
type publishedDoc struct {
	body      []byte
	etag      string
	digest    string
	signature string
	built     time.Time
}

// publishedCache holds the last document built of each name. A build is shared by the requests
// that arrive while it runs; a build that fails because the store or the signer is unavailable
// leaves the last good document in place, served until a build succeeds.
type publishedCache struct {
	mu     sync.Mutex
	docs   map[string]*publishedDoc
	builds singleflight.Group
}

func newPublishedCache() *publishedCache {
	return &publishedCache{docs: map[string]*publishedDoc{}}
}

// invalidate makes the next request build the document again.
func (p *publishedCache) invalidate(name string) {
	p.mu.Lock()
	if d := p.docs[name]; d != nil {
		stale := *d
		stale.built = time.Time{}
		p.docs[name] = &stale
	}
	p.mu.Unlock()
}

func (p *publishedCache) last(name string) *publishedDoc {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.docs[name]
}

// publishedDocument returns the named document, built by build when the cached one is older than
// publishedFresh (or was invalidated).
func (s *Server) publishedDocument(ctx context.Context, name string, build func(context.Context) (any, error)) (*publishedDoc, error) {
	last := s.pub.last(name)
	if last != nil && s.now().Sub(last.built) < publishedFresh {
		return last, nil
	}
	v, err, _ := s.pub.builds.Do(name, func() (any, error) {
		// The build outlives a caller that goes away: the others wait for it.
		doc, err := build(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		body, err := json.Marshal(doc)
		if err != nil {
			return nil, err
		}
		sig, err := s.revs.SignDocument(body)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		d := &publishedDoc{body: body, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`,
			digest: trust.Digest(body), signature: base64.StdEncoding.EncodeToString(sig), built: s.now()}
		s.pub.mu.Lock()
		s.pub.docs[name] = d
		s.pub.mu.Unlock()
		return d, nil
	})
	if err != nil {
		if p, ok := problem.As(err); ok && p.Class() == problem.ClassUnavailable && last != nil {
			s.log.WarnContext(ctx, "published document served from the last good build", "document", name,
				"built", last.built, "err", err)
			return last, nil
		}
		return nil, err
	}
	return v.(*publishedDoc), nil
}

// servePublished answers a published document with its integrity headers: ETag (and 304 for a
// matching If-None-Match), Cache-Control, Content-Digest (SHA-256) and X-DCC-Signature (a
// detached COSE_Sign1 by the service's DSC key, base64).
func servePublished(c echo.Context, d *publishedDoc) error {
	h := c.Response().Header()
	h.Set("ETag", d.etag)
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(publishedMaxAge.Seconds())))
	h.Set("Vary", "Accept-Encoding")
	if match := c.Request().Header.Get("If-None-Match"); match != "" && etagMatches(match, d.etag) {
		return c.NoContent(http.StatusNotModified)
	}
	h.Set(trust.DigestHeader, d.digest)
	h.Set(trust.SignatureHeader, d.signature)
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, d.body)
}
