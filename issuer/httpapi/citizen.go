package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/admission"
	"github.com/sedcc/dcc/issuer/document"
	"github.com/sedcc/dcc/issuer/idtoken"
	"github.com/sedcc/dcc/issuer/queue"
	"github.com/sedcc/dcc/registry/pnr"
	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/uvci"
)

// CitizenOptions enable the citizens' routes: the API under /api/v1/me and the web page at /.
type CitizenOptions struct {
	// Verifier checks the identity provider's tokens. Required.
	Verifier *idtoken.Verifier
	// View reads the citizens' own certificates. Required.
	View *issuer.CitizenView
	// Admission is the citizens' own budget, separate from the providers': a citizens' rush
	// never takes issuance slots. nil admits everything.
	Admission *admission.Limiter
	// CacheBytes bounds the rendered documents kept in memory (DefaultDocumentCacheBytes).
	CacheBytes int64
	// Web holds the web page's sign-in settings; the page is not served without them.
	Web *WebOptions
	// Queue, when set, stands in front of every citizens' entry (the page, the sign-in, the
	// API): when more people arrive than it admits per second, they wait their turn.
	Queue *queue.Queue
	// NewcomersPerAddress limits the places in the queue one client address takes (a token
	// bucket per address; a zero Rate: no limit). Beyond it the answer is 429 rate-limited and no
	// place is taken, so one client cannot push everyone back by taking numbers without end.
	NewcomersPerAddress RateLimit
}

// Citizens is the state of the citizens' routes, built by NewCitizens.
type Citizens struct {
	verify *idtoken.Verifier
	view   *issuer.CitizenView
	admit  *admission.Limiter
	docs   *docCache
	web    *web
	queue  *queue.Queue
	// newcomers limits the queue places taken per client address; nil: no limit.
	newcomers *rateLimiter
}

// NewCitizens checks the options and builds the citizens' routes' state.
func NewCitizens(o CitizenOptions) (*Citizens, error) {
	if o.Verifier == nil || o.View == nil {
		return nil, errors.New("httpapi: citizen routes need a token verifier and a view of the certificates")
	}
	c := &Citizens{verify: o.Verifier, view: o.View, admit: o.Admission, docs: newDocCache(o.CacheBytes), queue: o.Queue,
		newcomers: newRateLimiter(o.NewcomersPerAddress, time.Now)}
	if o.Web != nil {
		w, err := newWeb(*o.Web)
		if err != nil {
			return nil, err
		}
		c.web = w
	}
	return c, nil
}

const citizenRealm = "dcc-citizen"

// citizenAPIPrefix is where a citizen's certificates are.
const citizenAPIPrefix = "/api/v1/me/certificates"

func (s *Server) citizenRoutes() {
	if s.cit == nil {
		return
	}
	auth := s.bearerCitizen
	s.add(http.MethodGet, citizenAPIPrefix, s.queued(s.citizenRoute(auth, s.myCertificates)), string(issuer.RoleCitizen))
	s.add(http.MethodGet, citizenAPIPrefix+"/:uvci", s.queued(s.citizenRoute(auth, s.myCertificate(docJSON))), string(issuer.RoleCitizen))
	s.add(http.MethodGet, citizenAPIPrefix+"/:uvci/qr.png", s.queued(s.citizenRoute(auth, s.myCertificate(docQR))), string(issuer.RoleCitizen))
	s.add(http.MethodGet, citizenAPIPrefix+"/:uvci/pdf", s.queued(s.citizenRoute(auth, s.myCertificate(docPDF))), string(issuer.RoleCitizen))
	s.webRoutes()
}

// citizenRoute authenticates with auth, admits through the citizens' budget (after
// authentication, so that anonymous requests never hold a slot) and runs h.
func (s *Server) citizenRoute(auth func(echo.Context) (pnr.Number, error), h func(echo.Context, pnr.Number) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		n, err := auth(c)
		if err != nil {
			return err
		}
		if s.cit.admit != nil {
			t, _, wait := s.cit.admit.Acquire(c.Request().Context())
			if t == nil {
				return overloaded(wait)
			}
			defer t.Release()
		}
		c.Response().Header().Set("Vary", "Authorization, Cookie")
		return h(c, n)
	}
}

// bearerCitizen authenticates an API request by its OpenID Connect bearer token. A refusal is
// 401 with an RFC 6750 challenge; the identity provider being unreachable is 503.
func (s *Server) bearerCitizen(c echo.Context) (pnr.Number, error) {
	r := c.Request()
	who, err := s.cit.verify.Verify(r.Context(), bearer(r))
	if err == nil {
		return who.PNR, nil
	}
	var te *idtoken.Error
	if !errors.As(err, &te) {
		return pnr.Number{}, fmt.Errorf("verify citizen token: %w", err)
	}
	s.log.InfoContext(r.Context(), "citizen token refused", "request_id", requestID(c), "reason", te.Reason)
	if te.Reason == idtoken.Unavailable {
		p := problem.New(problem.CodeIdPUnavailable, "Authorization", "").WithRetryAfter(10 * time.Second)
		return pnr.Number{}, fmt.Errorf("%w: %w", p, err)
	}
	if te.Reason == idtoken.Malformed && s.creds != nil && strings.HasPrefix(bearer(r), "dcc_") {
		// A provider's or support member's valid key is a credential, just not a citizen's.
		if p, aErr := s.creds.Authenticate(r.Context(), bearer(r)); aErr == nil {
			return pnr.Number{}, problem.New(problem.CodeForbidden, "",
				fmt.Sprintf("A %s credential cannot read citizens' certificates; the citizen signs in with their e-ID.", p.Role))
		}
	}
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge(te.Reason))
	return pnr.Number{}, problem.New(problem.CodeUnauthenticated, "Authorization", refusalText(te.Reason))
}

// challenge is the RFC 6750 WWW-Authenticate value for a refused token. Without a token there
// is no error code (section 3.1: the client did not try).
func challenge(r idtoken.Reason) string {
	if r == idtoken.Missing {
		return `Bearer realm="` + citizenRealm + `"`
	}
	return `Bearer realm="` + citizenRealm + `", error="invalid_token", error_description="` + refusalText(r) + `"`
}

func refusalText(r idtoken.Reason) string {
	switch r {
	case idtoken.Missing:
		return "Send the identity provider's access token as 'Authorization: Bearer <token>'."
	case idtoken.Expired:
		return "The access token has expired. Sign in again."
	case idtoken.OtherIssuer:
		return "The access token is not from this service's identity provider."
	case idtoken.UnknownKey:
		return "The access token is signed with a key the identity provider does not publish."
	case idtoken.Audience:
		return "The access token is not meant for this service."
	case idtoken.NoIdentity:
		return "The access token carries no valid personal identity number."
	}
	return "The access token is malformed or its signature does not verify."
}

// Kinds of document a citizen fetches.
type docKind int

const (
	docJSON docKind = iota
	docQR
	docPDF
)

// myCertificates serves GET /api/v1/me/certificates: the citizen's certificates, newest first.
func (s *Server) myCertificates(c echo.Context, n pnr.Number) error {
	certs, err := s.cit.view.CertificatesOf(c.Request().Context(), n)
	if err != nil {
		return err
	}
	list := citizenList{Certificates: make([]citizenSummary, 0, len(certs))}
	now := s.now()
	for _, ct := range certs {
		list.Certificates = append(list.Certificates, summaryOf(ct, now))
	}
	var buf bytes.Buffer
	if err := encodeJSON(&buf, list); err != nil {
		return err
	}
	return serveRepresentation(c, newRepresentation(buf.Bytes()), echo.MIMEApplicationJSON, "private, no-cache")
}

type citizenLinks struct {
	Self string `json:"self"`
	QR   string `json:"qr"`
	PDF  string `json:"pdf"`
}

type citizenSummary struct {
	UVCI        string `json:"uvci"`
	Kind        string `json:"kind"`
	Environment string `json:"environment"`
	IssuedAt    string `json:"issuedAt"`
	ValidUntil  string `json:"validUntil"`
	// Status is "valid", "expired" or "revoked"; Revoked says the issuer withdrew it (a
	// verifier that follows the revocation list refuses it).
	Status  string       `json:"status"`
	Revoked bool         `json:"revoked"`
	Links   citizenLinks `json:"links"`
}

type citizenList struct {
	Certificates []citizenSummary `json:"certificates"`
}

func linksOf(u string) citizenLinks {
	self := citizenAPIPrefix + "/" + url.PathEscape(u)
	return citizenLinks{Self: self, QR: self + "/qr.png", PDF: self + "/pdf"}
}

// statusOf: "revoked" once the issuer has withdrawn it; otherwise "valid" until the
// certificate's technical expiry, "expired" after.
func statusOf(c issuer.Certificate, revoked bool, now time.Time) string {
	if revoked {
		return "revoked"
	}
	if now.Before(c.ExpiresAt) {
		return "valid"
	}
	return "expired"
}

func summaryOf(c issuer.CitizenCertificate, now time.Time) citizenSummary {
	return citizenSummary{
		UVCI:        c.UVCI,
		Kind:        string(c.Kind),
		Environment: string(c.Environment),
		IssuedAt:    c.IssuedAt.UTC().Format(time.RFC3339),
		ValidUntil:  c.ExpiresAt.UTC().Format(time.RFC3339),
		Status:      statusOf(c.Certificate, c.Revoked, now),
		Revoked:     c.Revoked,
		Links:       linksOf(c.UVCI),
	}
}

// citizenCertificate is GET /api/v1/me/certificates/{uvci}: the signed certificate (HC1) and
// what it says. It holds nothing that changes with time, so its ETag never changes.
type citizenCertificate struct {
	UVCI        string              `json:"uvci"`
	Kind        string              `json:"kind"`
	Environment string              `json:"environment"`
	IssuedAt    string              `json:"issuedAt"`
	ValidUntil  string              `json:"validUntil"`
	HC1         string              `json:"hc1"`
	Issuer      string              `json:"issuer"`
	Country     string              `json:"country"`
	Subject     subject             `json:"subject"`
	Test        *testDetails        `json:"test,omitempty"`
	Recovery    *recoveryDetails    `json:"recovery,omitempty"`
	Vaccination *vaccinationDetails `json:"vaccination,omitempty"`
	FileName    string              `json:"fileName"`
	Links       citizenLinks        `json:"links"`
}

// myCertificate serves one of the citizen's certificates as JSON, QR code image or PDF.
func (s *Server) myCertificate(kind docKind) func(echo.Context, pnr.Number) error {
	return func(c echo.Context, n pnr.Number) error {
		raw := c.Param("uvci")
		u, err := url.PathUnescape(raw)
		if err != nil || uvci.Valid(u) != nil {
			return notFoundCertificate()
		}
		docs, err := s.documentsOf(c, n, u)
		if err != nil {
			return err
		}
		switch kind {
		case docQR:
			return serveRepresentation(c, docs.qr, "image/png", "private, max-age=86400")
		case docPDF:
			c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+docs.fileName+`"`)
			return serveRepresentation(c, docs.pdf, "application/pdf", "private, max-age=86400")
		}
		return serveRepresentation(c, docs.json, echo.MIMEApplicationJSON, "private, no-cache")
	}
}

func notFoundCertificate() problem.List {
	return problem.New(problem.CodeNotFound, "",
		"You have no certificate with this UVCI. List yours at /api/v1/me/certificates.")
}

// documentsOf returns the person's certificate's documents: from the cache when they are there
// and the person's, else from the store (which also answers "not yours" exactly as "missing").
func (s *Server) documentsOf(c echo.Context, n pnr.Number, u string) (*documents, error) {
	if d, ok := s.cit.docs.get(u); ok && s.cit.view.Owns(n, d.subjectKey) {
		return d, nil
	}
	out, err := s.cit.view.CertificateOf(c.Request().Context(), n, u)
	if err != nil {
		return nil, err
	}
	return s.cit.docs.load(u, func() (*documents, error) { return s.makeDocuments(out.Certificate, out.Payload, nil) })
}

// makeDocuments renders a certificate's three answers; rendered, when given, is its QR code
// and PDF already made (on issuance).
func (s *Server) makeDocuments(cert issuer.Certificate, pl dcc.Certificate, rendered *document.Rendered) (*documents, error) {
	if rendered == nil {
		r, err := document.Render(s.printable(cert, pl))
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", cert.UVCI, err)
		}
		rendered = &r
	}
	issuedBy, country := signedBy(pl)
	cc := citizenCertificate{
		UVCI:        cert.UVCI,
		Kind:        string(cert.Kind),
		Environment: string(cert.Environment),
		IssuedAt:    cert.IssuedAt.UTC().Format(time.RFC3339),
		ValidUntil:  cert.ExpiresAt.UTC().Format(time.RFC3339),
		HC1:         cert.HC1,
		Issuer:      issuedBy,
		Country:     country,
		Subject:     subjectOf(pl, ""),
		FileName:    fileName(cert),
		Links:       linksOf(cert.UVCI),
	}
	cc.Test, cc.Recovery, cc.Vaccination = s.entryDetails(pl)
	var buf bytes.Buffer
	if err := encodeJSON(&buf, cc); err != nil {
		return nil, fmt.Errorf("encode %s: %w", cert.UVCI, err)
	}
	return &documents{
		json: newRepresentation(buf.Bytes()), qr: newRepresentation(rendered.QR), pdf: newRepresentation(rendered.PDF),
		qrWidth: rendered.Width, qrHeight: rendered.Height,
		subjectKey: cert.SubjectKey, cert: cert, payload: pl, fileName: fileName(cert),
	}, nil
}

// serveRepresentation answers with a fixed body, its strong ETag and Cache-Control, or 304 when
// the client's If-None-Match names the ETag.
func serveRepresentation(c echo.Context, rep *representation, contentType, cacheControl string) error {
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, cacheControl)
	h.Set("ETag", rep.etag())
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	if etagMatches(c.Request().Header.Get("If-None-Match"), rep.etag()) {
		c.Response().WriteHeader(http.StatusNotModified)
		return nil
	}
	return c.Blob(http.StatusOK, contentType, rep.body)
}

// etagMatches applies If-None-Match (RFC 9110 13.1.2, weak comparison): "*" or any listed tag.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
