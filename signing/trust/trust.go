// Package trust holds a trust list: the Document Signer certificates (DSCs) a verifier accepts,
// by key identifier, with its JSON form (served at GET /api/v1/trust-list) and loading from a
// file or URL.
package trust

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sedcc/dcc/signing/keys"
)

// MaxDocumentSize caps a trust list read from a file or URL.
const MaxDocumentSize = 16 << 20

// Entry is one trusted DSC. In JSON:
//
//	{"kid":"base64","country":"SE","certificate":"base64 DER","validFrom":"RFC 3339",
//	 "validTo":"RFC 3339","environment":"production"}
type Entry struct {
	KID         []byte    `json:"kid"`
	Country     string    `json:"country"`
	Certificate []byte    `json:"certificate"`
	ValidFrom   time.Time `json:"validFrom"`
	ValidTo     time.Time `json:"validTo"`
	Environment string    `json:"environment,omitempty"`

	cert *x509.Certificate
}

// X509 returns the parsed certificate.
func (e *Entry) X509() *x509.Certificate { return e.cert }

// document is the JSON form of a List.
type document struct {
	Certificates []Entry `json:"certificates"`
}

// List maps key identifiers to DSCs. It is safe for concurrent use.
type List struct {
	mu      sync.RWMutex
	entries []Entry
	byKID   map[string][]int
}

// New returns a list holding certs, each under its computed kid, in environment env.
func New(env string, certs ...*x509.Certificate) *List {
	l := &List{byKID: map[string][]int{}}
	for _, c := range certs {
		l.add(keys.KID(c), c, env)
	}
	return l
}

// Add trusts cert under its computed kid (first 8 bytes of SHA-256 over the DER).
func (l *List) Add(cert *x509.Certificate, env string) {
	l.AddWithKID(keys.KID(cert), cert, env)
}

// AddWithKID trusts cert under the given kid, for signers whose kid is not the usual hash.
func (l *List) AddWithKID(kid []byte, cert *x509.Certificate, env string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.add(kid, cert, env)
}

func (l *List) add(kid []byte, cert *x509.Certificate, env string) {
	if l.byKID == nil {
		l.byKID = map[string][]int{}
	}
	country := ""
	if len(cert.Subject.Country) > 0 {
		country = cert.Subject.Country[0]
	}
	k := string(kid)
	for _, i := range l.byKID[k] {
		if l.entries[i].cert.Equal(cert) {
			return
		}
	}
	l.entries = append(l.entries, Entry{
		KID: bytes.Clone(kid), Country: country, Certificate: cert.Raw,
		ValidFrom: cert.NotBefore.UTC(), ValidTo: cert.NotAfter.UTC(), Environment: env, cert: cert,
	})
	l.byKID[k] = append(l.byKID[k], len(l.entries)-1)
}

// Lookup returns the certificates trusted under kid (usually one; kids may collide).
func (l *List) Lookup(kid []byte) []*x509.Certificate {
	l.mu.RLock()
	defer l.mu.RUnlock()
	idx := l.byKID[string(kid)]
	out := make([]*x509.Certificate, 0, len(idx))
	for _, i := range idx {
		out = append(out, l.entries[i].cert)
	}
	return out
}

// Entries returns a copy of the entries in insertion order.
func (l *List) Entries() []Entry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]Entry(nil), l.entries...)
}

// Len returns the number of entries.
func (l *List) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.entries)
}

// MarshalJSON encodes the list as {"certificates":[Entry...]}.
func (l *List) MarshalJSON() ([]byte, error) {
	doc := document{Certificates: l.Entries()}
	if doc.Certificates == nil {
		doc.Certificates = []Entry{}
	}
	return json.Marshal(doc)
}

// UnmarshalJSON replaces the list's content with the decoded document. Every certificate must
// parse; an entry without kid gets the computed one. The certificate is authoritative for
// country and validity.
func (l *List) UnmarshalJSON(data []byte) error {
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("trust list: %w", err)
	}
	fresh := &List{byKID: map[string][]int{}}
	for i, e := range doc.Certificates {
		c, err := x509.ParseCertificate(e.Certificate)
		if err != nil {
			return fmt.Errorf("trust list entry %d: %w", i, err)
		}
		kid := e.KID
		if len(kid) == 0 {
			kid = keys.KID(c)
		}
		fresh.add(kid, c, e.Environment)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries, l.byKID = fresh.entries, fresh.byKID
	return nil
}

// Parse decodes a trust list document. A PEM bundle of certificates is accepted as well.
func Parse(data []byte) (*List, error) {
	if bytes.Contains(data, []byte("-----BEGIN CERTIFICATE-----")) {
		certs, err := keys.ParseCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("trust list: %w", err)
		}
		return New("", certs...), nil
	}
	l := &List{}
	if err := l.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return l, nil
}

// LoadFile reads a trust list from a JSON (or PEM) file.
func LoadFile(path string) (*List, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trust list: %w", err)
	}
	defer f.Close()
	data, err := readLimited(f)
	if err != nil {
		return nil, fmt.Errorf("trust list %s: %w", path, err)
	}
	return Parse(data)
}

// LoadURL fetches a trust list with client (http.DefaultClient when nil).
func LoadURL(ctx context.Context, client *http.Client, url string) (*List, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("trust list: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("trust list: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("trust list %s: HTTP %s", url, resp.Status)
	}
	data, err := readLimited(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("trust list %s: %w", url, err)
	}
	return Parse(data)
}

// Load reads a trust list from an http(s) URL or else a file path.
func Load(ctx context.Context, client *http.Client, source string) (*List, error) {
	if strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://") {
		return LoadURL(ctx, client, source)
	}
	return LoadFile(source)
}

func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxDocumentSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxDocumentSize {
		return nil, errors.New("larger than 16 MiB")
	}
	return data, nil
}

// String describes the list briefly, e.g. for logs.
func (l *List) String() string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	kids := make([]string, len(l.entries))
	for i, e := range l.entries {
		kids[i] = hex.EncodeToString(e.KID)
	}
	return fmt.Sprintf("trust list of %d DSCs [%s]", len(l.entries), strings.Join(kids, " "))
}
