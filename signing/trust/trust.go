// Package trust holds a trust list: the Document Signer certificates (DSCs) a verifier accepts,
// by key identifier, with its JSON form (served at GET /api/v1/trust-list) and loading from a
// file or URL.
package trust

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
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

	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
)

// MaxDocumentSize caps a trust list read from a file or URL.
const MaxDocumentSize = 16 << 20

// Entry is one trusted DSC. Its JSON form follows the DCC gateway's trust list entries (kid,
// country, certificateType, thumbprint, rawData) and adds what a verifier of this service's
// certificates needs (docs/trust-list.schema.json):
//
//	{"kid":"base64","country":"SE","certificateType":"DSC","thumbprint":"hex SHA-256 of the DER",
//	 "rawData":"base64 DER","validFrom":"RFC 3339","validTo":"RFC 3339",
//	 "kinds":["test","vaccination","recovery"],"environment":"production","status":"current"}
type Entry struct {
	KID             []byte    `json:"kid"`
	Country         string    `json:"country"`
	CertificateType string    `json:"certificateType"`
	Thumbprint      string    `json:"thumbprint"`
	Certificate     []byte    `json:"rawData"`
	ValidFrom       time.Time `json:"validFrom"`
	ValidTo         time.Time `json:"validTo"`
	// Kinds are the certificate kinds the DSC may sign, from its DCC extended key usages.
	Kinds       []string `json:"kinds"`
	Environment string   `json:"environment,omitempty"`
	// Status is StatusCurrent for a DSC the service signs with now, StatusRetired for one it
	// signed with before; empty when the list's source does not say.
	Status string `json:"status,omitempty"`

	cert *x509.Certificate
}

// The statuses of an entry.
const (
	StatusCurrent = "current"
	StatusRetired = "retired"
)

// CertificateTypeDSC is the certificateType of a Document Signer Certificate.
const CertificateTypeDSC = "DSC"

// entryJSON reads an entry; "certificate" is the name earlier versions of this document used
// for rawData.
type entryJSON struct {
	KID         []byte `json:"kid"`
	RawData     []byte `json:"rawData"`
	Certificate []byte `json:"certificate"`
	Environment string `json:"environment"`
	Status      string `json:"status"`
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

// AddStatus trusts cert under its computed kid with a status (StatusCurrent, StatusRetired).
func (l *List) AddStatus(cert *x509.Certificate, env, status string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addFull(keys.KID(cert), cert, env, status)
}

func (l *List) add(kid []byte, cert *x509.Certificate, env string) {
	l.addFull(kid, cert, env, "")
}

func (l *List) addFull(kid []byte, cert *x509.Certificate, env, status string) {
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
	kinds := []string{}
	for _, k := range keys.Kinds(cert) {
		kinds = append(kinds, k.String())
	}
	sum := sha256.Sum256(cert.Raw)
	l.entries = append(l.entries, Entry{
		KID: bytes.Clone(kid), Country: country, CertificateType: CertificateTypeDSC,
		Thumbprint: hex.EncodeToString(sum[:]), Certificate: cert.Raw,
		ValidFrom: cert.NotBefore.UTC(), ValidTo: cert.NotAfter.UTC(), Kinds: kinds,
		Environment: env, Status: status, cert: cert,
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

// UnmarshalJSON replaces the list's content with the decoded document: this service's
// {"certificates":[...]} or a DCC gateway trust list (a bare array of entries with rawData).
// Every certificate must parse; an entry without kid gets the computed one. The certificate is
// authoritative for country, validity, thumbprint and kinds.
func (l *List) UnmarshalJSON(data []byte) error {
	var doc struct {
		Certificates []entryJSON `json:"certificates"`
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		if err := json.Unmarshal(data, &doc.Certificates); err != nil {
			return fmt.Errorf("trust list: %w", err)
		}
	} else if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("trust list: %w", err)
	}
	fresh := &List{byKID: map[string][]int{}}
	for i, e := range doc.Certificates {
		der := e.RawData
		if len(der) == 0 {
			der = e.Certificate
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("trust list entry %d: %w", i, err)
		}
		kid := e.KID
		if len(kid) == 0 {
			kid = keys.KID(c)
		}
		fresh.addFull(kid, c, e.Environment, e.Status)
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
	if err := CheckDigest(resp.Header.Get(DigestHeader), data); err != nil {
		return nil, fmt.Errorf("trust list %s: %w", url, err)
	}
	l, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if sig := resp.Header.Get(SignatureHeader); sig != "" {
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			return nil, fmt.Errorf("trust list %s: %s: %w", url, SignatureHeader, err)
		}
		if _, err := hcert.VerifyDetached(raw, data, l); err != nil {
			return nil, fmt.Errorf("trust list %s: %s does not verify against the list's own DSCs: %w", url, SignatureHeader, err)
		}
	}
	return l, nil
}

// The integrity headers of a published document (trust list, revocation list).
const (
	// DigestHeader carries the SHA-256 of the body (RFC 9530): sha-256=:base64:.
	DigestHeader = "Content-Digest"
	// SignatureHeader carries a detached COSE_Sign1 over the body (hcert.Signer.SignDetached),
	// base64, made with the key of a DSC the trust list names.
	SignatureHeader = "X-DCC-Signature"
)

// Digest is the Content-Digest value of body.
func Digest(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// CheckDigest compares a Content-Digest header with body: its sha-256 member must match. An
// empty header passes; one without a sha-256 member is an error.
func CheckDigest(header string, body []byte) error {
	if header == "" {
		return nil
	}
	want := Digest(body)
	for _, member := range strings.Split(header, ",") {
		member = strings.TrimSpace(member)
		if strings.HasPrefix(strings.ToLower(member), "sha-256=") {
			if "sha-256="+member[len("sha-256="):] == want {
				return nil
			}
			return fmt.Errorf("%s does not match the body", DigestHeader)
		}
	}
	return fmt.Errorf("%s has no sha-256 member", DigestHeader)
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
