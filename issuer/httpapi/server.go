// Package httpapi is the service's HTTP face: routes, authentication, request ids, body limits,
// and the rendering of answers and OperationOutcome errors. It holds no validation or issuance
// rules; those live in fhir and issuer.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sedcc/dcc/fhir"
	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/admission"
	"github.com/sedcc/dcc/issuer/metrics"
	"github.com/sedcc/dcc/issuer/policy"
	"github.com/sedcc/dcc/issuer/requestid"
	"github.com/sedcc/dcc/signing/valueset"
)

// Options are the server's dependencies.
type Options struct {
	Issuer      *issuer.Service
	Credentials *issuer.Credentials
	Log         *slog.Logger
	Clock       func() time.Time
	// OpenAPI is the document served at /openapi.yaml.
	OpenAPI []byte
	// Values resolves codes to their display text.
	Values *valueset.Catalogue
	// Version is reported by /ping.
	Version string
	// MaxBodyBytes caps request bodies (default fhir.MaxBodyBytes).
	MaxBodyBytes int64
	// BodyTimeout is the longest a request body may take to arrive, read before any admission
	// slot is taken (default 10 s): 64 KiB in that time is a rate no real client falls below.
	BodyTimeout time.Duration
	// SlotsPerCredential caps the admission slots one credential holds at once; 0 leaves it to
	// the admission limit alone.
	SlotsPerCredential int
	// Admission bounds the concurrent issuance work; nil admits everything.
	Admission *admission.Limiter
	// TrustedProxies are the networks of reverse proxies (TLS termination, load balancers) whose
	// X-Forwarded-For names the client; empty: the peer address is the client.
	TrustedProxies []*net.IPNet
	// OverloadPace is the longest pause before an overload refusal on a connection that came
	// back before its Retry-After (see pacer); 0 answers every refusal at once.
	OverloadPace time.Duration
	// Metrics, when set, counts every request and serves GET /metrics.
	Metrics *metrics.Metrics
	// AuditQueue records refusals made before any work without making them wait for the store;
	// nil writes them synchronously.
	AuditQueue *issuer.AuditQueue
	// ProviderRate limits each provider credential; a zero Rate disables the limit.
	ProviderRate RateLimit
	// Revocations serves revocation, the trust list, the revocation list and verification; nil
	// leaves those routes out.
	Revocations *issuer.Revocations
	// VerifyRate limits POST /api/v1/verify per credential (default 2 a second, bursts of 20).
	VerifyRate RateLimit
	// AuthFailures limits failed authentications per client address; a zero Rate disables it.
	AuthFailures AuthFailureLimit
	// Changes are the announced API changes whose routes answer with Deprecation and Sunset
	// headers (ScheduledChanges; docs/api-changes.md).
	Changes []APIChange
	// Status is what /status and /status/feed.xml show (a *status.Monitor); nil answers 404.
	Status StatusSource
	// Citizens, when set, serves the citizens' API under /api/v1/me and, when built with web
	// options, the web page at / (see NewCitizens).
	Citizens *Citizens
}

// Server holds the routes and their dependencies.
type Server struct {
	echo        *echo.Echo
	issuer      *issuer.Service
	revs        *issuer.Revocations
	creds       *issuer.Credentials
	log         *slog.Logger
	now         func() time.Time
	openapi     []byte
	version     string
	maxBody     int64
	values      *valueset.Catalogue
	limits      *rateLimiter
	shares      *shares
	bodyTimeout time.Duration
	authFails   *authLimiter
	admit       *admission.Limiter
	pace        *pacer
	metrics     *metrics.Metrics
	refusals    *issuer.AuditQueue
	routeSet    []Route
	status      StatusSource
	// zone is where answers show dates: the issuance policy's.
	zone *time.Location
	// verifyLimits paces POST /api/v1/verify per credential.
	verifyLimits *rateLimiter
	cit          *Citizens
	// answerBufs holds buffers for the issuance answers (writeAnswer).
	answerBufs sync.Pool
	// pub holds the published documents as last built.
	pub *publishedCache
}

// Route is one served route and the roles that may call it (see docs/roles.md).
type Route struct {
	Method string
	Path   string
	// Roles that may call it; "public" for no credential.
	Roles []string
}

// New builds the server and registers every route.
func New(o Options) *Server {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = fhir.MaxBodyBytes
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{echo: e, issuer: o.Issuer, creds: o.Credentials, log: o.Log, now: o.Clock,
		openapi: o.OpenAPI, version: o.Version, maxBody: o.MaxBodyBytes, values: o.Values}
	s.zone = policy.Default().Zone
	if o.Issuer != nil {
		s.zone = o.Issuer.Policy().Zone
	}
	s.limits = newRateLimiter(o.ProviderRate, o.Clock)
	if o.VerifyRate.Rate <= 0 {
		o.VerifyRate = defaultVerifyRate
	}
	s.verifyLimits = newRateLimiter(o.VerifyRate, o.Clock)
	s.pub = newPublishedCache()
	s.authFails = newAuthLimiter(o.AuthFailures, o.Clock)
	s.shares = newShares(o.SlotsPerCredential)
	s.bodyTimeout = o.BodyTimeout
	if s.bodyTimeout <= 0 {
		s.bodyTimeout = 10 * time.Second
	}
	s.status = o.Status
	s.revs = o.Revocations
	s.admit, s.metrics, s.refusals = o.Admission, o.Metrics, o.AuditQueue
	s.pace = newPacer(o.OverloadPace, o.Clock)
	s.cit = o.Citizens
	if len(o.TrustedProxies) > 0 {
		opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, n := range o.TrustedProxies {
			opts = append(opts, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(opts...)
	} else {
		e.IPExtractor = echo.ExtractIPDirect()
	}
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.requestIDMiddleware, s.accessLog)
	if s.metrics != nil {
		e.Use(s.metricsMiddleware)
	}
	e.Use(s.recoverMiddleware)
	if len(o.Changes) > 0 {
		e.Use(changeHeaders(o.Changes))
	}
	s.routes()
	return s
}

// Handler is the server as an http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Routes lists the registered routes with their roles.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routeSet...) }

// EchoRoutes lists what echo actually serves, for the tests that keep docs and roles complete.
func (s *Server) EchoRoutes() []*echo.Route { return s.echo.Routes() }

func (s *Server) add(method, path string, h echo.HandlerFunc, roles ...string) {
	s.echo.Add(method, path, h)
	s.routeSet = append(s.routeSet, Route{Method: method, Path: path, Roles: roles})
}

// apiPrefix is the versioned home of the API; the same provider routes without it answer in the
// compatibility shapes.
const apiPrefix = "/api/v1"

func (s *Server) routes() {
	for _, prefix := range []string{"", apiPrefix} {
		s.add(http.MethodPost, prefix+"/observation", s.issue(issuer.KindTest), string(issuer.RoleProvider))
		s.add(http.MethodPost, prefix+"/recovery", s.issue(issuer.KindRecovery), string(issuer.RoleProvider))
		s.add(http.MethodPost, prefix+"/immunization", s.issue(issuer.KindVaccination), string(issuer.RoleProvider))
		s.add(http.MethodGet, prefix+"/ping", s.ping, "public")
	}
	s.add(http.MethodGet, "/api/v1/audit", s.auditSearch,
		string(issuer.RoleProvider), string(issuer.RoleSupport), string(issuer.RoleSupportAdmin))
	s.add(http.MethodGet, "/openapi.yaml", s.openAPI, "public")
	s.add(http.MethodGet, "/healthz", s.healthz, "public")
	s.add(http.MethodGet, "/readyz", s.readyz, "public")
	if s.metrics != nil {
		s.add(http.MethodGet, "/metrics", echo.WrapHandler(s.metrics.Handler()), "public")
	}
	s.statusRoutes()
	if s.revs != nil {
		s.revocationRoutes()
	}
	s.supportRoutes()
	s.citizenRoutes()
}

const headerRequestID = "X-Request-ID"

// Keys of values a request carries through echo's context.
const (
	keyRequestID        = "dcc.request_id"
	keyClientGiven      = "dcc.request_id_client"
	keyRequestIDProblem = "dcc.request_id_invalid"
	keyProblemCodes     = "dcc.problem_codes"
	keyPrincipal        = "dcc.principal"
	keyQueued           = "dcc.queued"
	keySession          = "dcc.session"
)

// validRequestID: 1 to 128 characters of A-Z a-z 0-9 and . _ : - (UUIDs and ULIDs fit).
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// requestIDMiddleware takes the client's X-Request-ID when it is well-formed, generates one
// otherwise, and echoes the id on every response, errors included.
func (s *Server) requestIDMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		given := c.Request().Header.Values(headerRequestID)
		id, client := "", false
		switch {
		case len(given) == 0:
			id = newRequestID()
		case len(given) == 1 && validRequestID(given[0]):
			id, client = given[0], true
		default:
			id = newRequestID()
			c.Set(keyRequestIDProblem, true)
		}
		c.Set(keyRequestID, id)
		c.Set(keyClientGiven, client)
		c.SetRequest(c.Request().WithContext(requestid.With(c.Request().Context(), id)))
		c.Response().Header().Set(headerRequestID, id)
		return next(c)
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get(keyRequestID).(string)
	return id
}

func clientGivenID(c echo.Context) bool {
	v, _ := c.Get(keyClientGiven).(bool)
	return v
}

func requestIDProblem(c echo.Context) problem.List {
	if bad, _ := c.Get(keyRequestIDProblem).(bool); !bad {
		return nil
	}
	return problem.New(problem.CodeRequestIDInvalid, "X-Request-ID", "")
}

func setProblemCodes(c echo.Context, codes []string) { c.Set(keyProblemCodes, codes) }

// accessLog writes one structured line per request. It never logs bodies, query strings or
// headers other than the request id.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		codes, _ := c.Get(keyProblemCodes).([]string)
		level := slog.LevelInfo
		// A citizen told to wait in the virtual queue is the service working as meant, not a
		// failure: in a rush there are thousands a second.
		if c.Response().Status >= 500 && c.Get(keyQueued) == nil {
			level = slog.LevelWarn
		}
		s.log.LogAttrs(c.Request().Context(), level, "http request",
			slog.String("request_id", requestID(c)),
			slog.String("method", c.Request().Method),
			slog.String("route", c.Path()),
			slog.Int("status", c.Response().Status),
			slog.Duration("latency", time.Since(start)),
			slog.Int64("bytes_out", c.Response().Size),
			slog.Any("codes", codes),
		)
		return nil
	}
}

// metricsMiddleware counts and times every request by method, route template (echo's c.Path(),
// never the raw URL) and final status. It hands a handler's error to the error handler itself,
// so that the status it records is the one sent; it sits outside the middleware that recovers
// panics and inside the access log.
func (s *Server) metricsMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		done := s.metrics.HTTPRequest()
		if err := next(c); err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" || c.Response().Status == http.StatusNotFound && route == "/*" {
			route = "unmatched"
		}
		done(c.Request().Method, route, c.Response().Status)
		return nil
	}
}

func (s *Server) recoverMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				// The error handler logs it, once, with the request id.
				err = fmt.Errorf("%w: panic in handler: %v", problem.Internal(), r)
			}
		}()
		return next(c)
	}
}

// bearer extracts the token of an "Authorization: Bearer" header; "" when absent or malformed.
func bearer(r *http.Request) string {
	h := r.Header.Get(echo.HeaderAuthorization)
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// readBody reads at most limit bytes; a longer body is a ClassTooLarge problem.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", problem.New(problem.CodeMalformedJSON, "", "The request body could not be read completely. Send it again."), err)
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(limit)
	}
	return b, nil
}

// readBodyWithin reads the body as readBody does, within timeout: past it the read fails, the
// answer is 400 body-timeout, and the connection is not reused.
func readBodyWithin(c echo.Context, limit int64, timeout time.Duration) ([]byte, error) {
	rc := http.NewResponseController(c.Response().Writer)
	deadline := time.Now().Add(timeout)
	// Without a connection (a test recorder) there is no deadline to set; the read is bounded
	// by the body's own length.
	set := rc.SetReadDeadline(deadline) == nil
	b, err := readBody(c.Request(), limit)
	if set && err == nil {
		// Cleared only after a whole body: after a failed read the deadline stays, so that the
		// server's own draining of the rest fails at once and the connection closes.
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil && set && !time.Now().Before(deadline) {
		return nil, fmt.Errorf("%w: %w", problem.New(problem.CodeBodyTimeout, "", fmt.Sprintf(
			"The request body did not arrive within %s. Send the whole body at once; it is at most %d KiB.", timeout, limit>>10)), err)
	}
	return b, err
}

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (s *Server) ping(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok", "service": "dccd", "version": s.version,
		"time": s.now().UTC().Format(time.RFC3339)})
}

func (s *Server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", s.openapi)
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "alive"})
}

// readyz answers 200 when the service can issue (store and signers usable) and 503 otherwise.
// The register is reported but does not decide: while it is down the birth-date fallback issues,
// and the body says "degraded".
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	h := s.issuer.Health(ctx)
	body := map[string]any{"register": h.Register}
	updown := func(err error) string {
		if err != nil {
			return "down"
		}
		return "up"
	}
	body["store"] = updown(h.Store)
	signers := map[string]string{}
	for env, sh := range h.Signers {
		signers[string(env)] = updown(sh.Err)
		if sh.Err != nil {
			s.log.WarnContext(ctx, "readiness: signer unusable", "environment", env, "err", sh.Err)
		}
	}
	body["signers"] = signers
	if h.Store != nil {
		s.log.WarnContext(ctx, "readiness: store unavailable", "err", h.Store)
	}
	switch {
	case !h.Ready():
		body["status"] = "unready"
		return c.JSON(http.StatusServiceUnavailable, body)
	case h.Register.Status != "up":
		body["status"] = "degraded"
	default:
		body["status"] = "ready"
	}
	return c.JSON(http.StatusOK, body)
}
