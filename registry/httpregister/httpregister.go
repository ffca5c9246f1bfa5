// Package httpregister holds the client of a population register served over HTTP
// (DCC_REGISTER_URL), built so that an outage of the register costs the service the register's
// data and nothing more: every look-up is bounded in time, retried only when retrying is safe
// and useful, cut short by a circuit breaker while the register is down, and answered from a
// short-lived cache for persons found recently.
//
// The contract spoken is registry/registerapi (docs/register-api.md).
package httpregister

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/sony/gobreaker/v2"

	"github.com/sedcc/dcc/registry"
	"github.com/sedcc/dcc/registry/pnr"
	"github.com/sedcc/dcc/registry/registerapi"
)

// Defaults for the zero values of Options.
const (
	DefaultTimeout         = 2 * time.Second
	DefaultBudget          = 5 * time.Second
	DefaultMaxAttempts     = 3
	DefaultBackoffBase     = 100 * time.Millisecond
	DefaultBackoffMax      = time.Second
	DefaultBreakerFailures = 3
	DefaultBreakerCooldown = 10 * time.Second
	DefaultCacheTTL        = 5 * time.Minute
	DefaultCacheSize       = 10_000
)

// Breaker states as State().Breaker and the OnStateChange callback name them.
const (
	BreakerClosed   = "closed"
	BreakerHalfOpen = "half-open"
	BreakerOpen     = "open"
)

// Options configures a Client. Zero values take the defaults above.
type Options struct {
	// URL is the register's base URL (http or https); the look-up goes to URL + /v1/lookup.
	URL string
	// Token, when set, is sent as "Authorization: Bearer <Token>".
	Token string
	// Timeout bounds one HTTP attempt.
	Timeout time.Duration
	// Budget bounds one Lookup, all attempts and waits between them included.
	Budget time.Duration
	// MaxAttempts is the most HTTP attempts one Lookup makes (1 means no retry).
	MaxAttempts int
	// BackoffBase and BackoffMax shape the wait before a retry: it doubles from BackoffBase up
	// to BackoffMax, and a random half of it is jitter.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// BreakerFailures is how many consecutive failed attempts open the circuit breaker.
	BreakerFailures uint32
	// BreakerCooldown is how long the breaker stays open before it lets one probe through.
	BreakerCooldown time.Duration
	// CacheTTL is how long a person found stays cached; negative disables the cache.
	CacheTTL time.Duration
	// CacheSize is the most persons cached; negative disables the cache.
	CacheSize int
	// HTTPClient sends the requests; nil builds one that does not follow redirects. Its own
	// Timeout, if any, should not be shorter than Timeout.
	HTTPClient *http.Client
	// Clock gives the time for cache expiry and State; nil means time.Now. (Timeouts and the
	// breaker's cool-down run on the real clock.)
	Clock func() time.Time
	// Logger receives breaker transitions and failed attempts, never personal data; nil discards.
	Logger *slog.Logger
	// ProbeNumber is the number Probe looks up (default DefaultProbeNumber). Found or not found,
	// an answer proves the register answers; its content is thrown away.
	ProbeNumber string
	// OnStateChange, when set, is called on every breaker transition with the state names
	// above, e.g. for a metric. It runs synchronously while the breaker holds its lock: it must
	// return quickly and must not call the Client.
	OnStateChange func(from, to string)
}

// Client looks persons up in an HTTP population register. It is safe for concurrent use.
type Client struct {
	url         string
	token       string
	timeout     time.Duration
	budget      time.Duration
	maxAttempts int
	backoffBase time.Duration
	backoffMax  time.Duration
	cacheTTL    time.Duration
	http        *http.Client
	now         func() time.Time
	log         *slog.Logger
	breaker     *gobreaker.TwoStepCircuitBreaker[registry.Person]
	cache       *lru.Cache[string, cached] // nil when disabled
	probe       pnr.Number

	mu       sync.Mutex
	lastFail string
	lastAt   time.Time
	unusable bool // the last attempt got an answer the service cannot use (a 4xx, malformed)
}

type cached struct {
	person  registry.Person
	expires time.Time
}

var (
	_ registry.Register = (*Client)(nil)
	_ registry.Reporter = (*Client)(nil)
	_ registry.Prober   = (*Client)(nil)
)

// DefaultProbeNumber is the number the health probe looks up: the tax agency's published test
// personnummer, which a register answers found or not found.
const DefaultProbeNumber = "191212121212"

// New checks o and builds a Client.
func New(o Options) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("register URL must be an absolute http or https URL, got %q", o.URL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("register URL must not carry a query or fragment")
	}
	setDefaults(&o)
	if o.MaxAttempts < 1 {
		return nil, fmt.Errorf("register attempts must be at least 1, got %d", o.MaxAttempts)
	}
	if o.Timeout < 0 || o.Budget < 0 || o.BackoffBase < 0 || o.BackoffMax < 0 || o.BreakerCooldown < 0 {
		return nil, errors.New("register durations must not be negative")
	}
	probe, err := pnr.Parse(o.ProbeNumber, pnr.Personnummer, o.Clock())
	if err != nil {
		return nil, fmt.Errorf("register probe number: %w", err)
	}
	c := &Client{
		url:         u.JoinPath(registerapi.LookupPath).String(),
		token:       o.Token,
		timeout:     o.Timeout,
		budget:      o.Budget,
		maxAttempts: o.MaxAttempts,
		backoffBase: o.BackoffBase,
		backoffMax:  o.BackoffMax,
		cacheTTL:    o.CacheTTL,
		http:        o.HTTPClient,
		now:         o.Clock,
		log:         o.Logger,
		probe:       probe,
	}
	if o.CacheTTL > 0 && o.CacheSize > 0 {
		c.cache, err = lru.New[string, cached](o.CacheSize)
		if err != nil {
			return nil, fmt.Errorf("register cache: %w", err)
		}
	}
	failures := o.BreakerFailures
	notify := o.OnStateChange
	c.breaker = gobreaker.NewTwoStepCircuitBreaker[registry.Person](gobreaker.Settings{
		Name:        "population-register",
		MaxRequests: 1,
		Timeout:     o.BreakerCooldown,
		ReadyToTrip: func(counts gobreaker.Counts) bool {
			return counts.ConsecutiveFailures >= failures
		},
		// The breaker is told nil for an answer (found or not found), errCallerGone when the
		// caller gave up, errNotOutage for an answer the service cannot use (a 4xx, a malformed
		// body: configuration, which opening the breaker would only disguise as an outage), and
		// the failure otherwise.
		IsExcluded: func(err error) bool { return errors.Is(err, errCallerGone) || errors.Is(err, errNotOutage) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			level := slog.LevelWarn
			if to == gobreaker.StateClosed {
				level = slog.LevelInfo
			}
			c.log.Log(context.Background(), level, "population register circuit breaker",
				"from", from.String(), "to", to.String())
			if notify != nil {
				notify(from.String(), to.String())
			}
		},
	})
	if o.Token != "" && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		c.log.Warn("population register token is sent over plain http to a non-loopback host",
			"host", u.Host)
	}
	return c, nil
}

func setDefaults(o *Options) {
	o.Timeout = cmp.Or(o.Timeout, DefaultTimeout)
	o.Budget = cmp.Or(o.Budget, DefaultBudget)
	o.MaxAttempts = cmp.Or(o.MaxAttempts, DefaultMaxAttempts)
	o.BackoffBase = cmp.Or(o.BackoffBase, DefaultBackoffBase)
	o.BackoffMax = cmp.Or(o.BackoffMax, DefaultBackoffMax)
	o.BreakerFailures = cmp.Or(o.BreakerFailures, DefaultBreakerFailures)
	o.BreakerCooldown = cmp.Or(o.BreakerCooldown, DefaultBreakerCooldown)
	o.CacheTTL = cmp.Or(o.CacheTTL, DefaultCacheTTL)
	o.CacheSize = cmp.Or(o.CacheSize, DefaultCacheSize)
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			// A register never redirects; following one would re-send the number elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	o.ProbeNumber = cmp.Or(o.ProbeNumber, DefaultProbeNumber)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Reason says why the register could not answer; it is stable, for metrics and the audit.
type Reason string

// The reasons an UnavailableError carries.
const (
	ReasonBreakerOpen = Reason("breaker-open")       // the breaker refused the call
	ReasonTimeout     = Reason("timeout")            // an attempt or the budget ran out
	ReasonConnection  = Reason("connection")         // refused, reset, closed, DNS
	ReasonStatus      = Reason("status")             // an HTTP status other than 200 and a named 404
	ReasonMalformed   = Reason("malformed-response") // a body that breaks the contract
	ReasonCancelled   = Reason("cancelled")          // the caller gave up
)

// UnavailableError is the error Lookup returns when the register did not answer. It matches
// registry.ErrUnavailable with errors.Is, and its cause (a *url.Error, gobreaker.ErrOpenState,
// registerapi.ErrMalformed, ...) too.
type UnavailableError struct {
	Reason Reason
	// Status is the HTTP status of the last attempt, 0 when there was none.
	Status int
	// Attempts is the number of HTTP attempts made (0 when the breaker refused at once).
	Attempts int
	Err      error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%s (%s after %d attempt(s)): %v", registry.ErrUnavailable, e.Reason, e.Attempts, e.Err)
}

// Outage reports whether the register was unreachable or failing (see registry.Outage), as
// opposed to answering in a way the service cannot use (a 4xx, a malformed body): those come
// from configuration, and no fallback may hide them.
func (e *UnavailableError) Outage() bool {
	switch e.Reason {
	case ReasonBreakerOpen, ReasonTimeout, ReasonConnection:
		return true
	case ReasonStatus:
		return outageStatus(e.Status)
	}
	return false
}

// outageStatus: 5xx and 429 say the register is failing or overloaded; other statuses say the
// request itself was refused.
func outageStatus(status int) bool { return status >= 500 || status == http.StatusTooManyRequests }

// Unwrap makes errors.Is see both registry.ErrUnavailable and the cause.
func (e *UnavailableError) Unwrap() []error { return []error{registry.ErrUnavailable, e.Err} }

// attemptError is one failed attempt.
type attemptError struct {
	reason    Reason
	status    int
	retryable bool
	err       error
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

// errCallerGone marks an attempt abandoned because the caller cancelled: it tells nothing about
// the register, so the breaker does not count it.
var errCallerGone = errors.New("caller cancelled the look-up")

// Lookup asks the register for n. It returns the person, an error wrapping registry.ErrNotFound
// when the register answered that it holds no such person, or an *UnavailableError (wrapping
// registry.ErrUnavailable) for anything else. It never takes longer than the budget.
func (c *Client) Lookup(ctx context.Context, n pnr.Number) (registry.Person, error) {
	if n.IsZero() {
		return registry.Person{}, fmt.Errorf("look up: no number given: %w", registry.ErrNotFound)
	}
	if p, ok := c.fromCache(n.Digits()); ok {
		return p, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.budget)
	defer cancel()

	attempts := 0
	var last *attemptError
	for {
		done, err := c.breaker.Allow()
		if err != nil {
			ue := &UnavailableError{Reason: ReasonBreakerOpen, Attempts: attempts, Err: err}
			if last != nil {
				// The breaker opened while this look-up was retrying.
				ue.Status, ue.Err = last.status, errors.Join(err, last.err)
			}
			return registry.Person{}, fmt.Errorf("look up: %w", ue)
		}
		attempts++
		p, err := c.attempt(ctx, n)
		ae := c.settle(ctx, done, err)
		switch {
		case err == nil:
			c.toCache(n.Digits(), p)
			return p, nil
		case ae == nil:
			return registry.Person{}, fmt.Errorf("look up: %w", err)
		}
		last = ae
		wait, retry := c.nextWait(ctx, ae, attempts)
		if !retry {
			return registry.Person{}, fmt.Errorf("look up: %w",
				&UnavailableError{Reason: ae.reason, Status: ae.status, Attempts: attempts, Err: ae.err})
		}
		c.log.Debug("population register attempt failed; retrying",
			"attempt", attempts, "reason", string(ae.reason), "status", ae.status, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			reason := ReasonTimeout
			if errors.Is(context.Cause(ctx), context.Canceled) {
				reason = ReasonCancelled
			}
			return registry.Person{}, fmt.Errorf("look up: %w",
				&UnavailableError{Reason: reason, Status: ae.status, Attempts: attempts, Err: errors.Join(ae.err, ctx.Err())})
		case <-t.C:
		}
	}
}

// settle tells the breaker and the client's state how an attempt ended, and returns the failure,
// or nil when the register answered (a person, or an answer about the number: the register
// itself is fine). Look-ups and the probe share it, so both move the same state.
func (c *Client) settle(ctx context.Context, done func(error), err error) *attemptError {
	if err == nil || errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrRejected) {
		done(nil)
		c.setUnusable(false)
		return nil
	}
	var ae *attemptError
	if !errors.As(err, &ae) {
		ae = &attemptError{reason: ReasonConnection, err: err}
	}
	switch {
	case errors.Is(context.Cause(ctx), context.Canceled):
		// The caller left; the register may be fine.
		done(errCallerGone)
		ae = &attemptError{reason: ReasonCancelled, err: err}
	case !ae.outage():
		done(errNotOutage)
		c.noteFailure(ae)
		c.setUnusable(true)
	default:
		done(err)
		c.noteFailure(ae)
	}
	return ae
}

// Probe asks the register once for the probe number, past the cache, and lets the answer move
// the breaker and State as a look-up's attempt would: a register that has gone away turns State
// degraded and then down although no request failed, and one that is back turns it up. It
// returns nil when the register answered. While the breaker is open Probe is refused like a
// look-up; once the cool-down ends it is the one request let through.
func (c *Client) Probe(ctx context.Context) error {
	done, err := c.breaker.Allow()
	if err != nil {
		return &UnavailableError{Reason: ReasonBreakerOpen, Err: err}
	}
	_, err = c.attempt(ctx, c.probe)
	if ae := c.settle(ctx, done, err); ae != nil {
		return &UnavailableError{Reason: ae.reason, Status: ae.status, Attempts: 1, Err: ae.err}
	}
	return nil
}

// nextWait decides whether another attempt is worth it, and how long to wait before it: only
// for a retryable failure, within MaxAttempts, and when the budget leaves time for the wait.
func (c *Client) nextWait(ctx context.Context, ae *attemptError, attempts int) (time.Duration, bool) {
	if !ae.retryable || attempts >= c.maxAttempts || ctx.Err() != nil {
		return 0, false
	}
	d := c.backoffBase << (attempts - 1)
	if d > c.backoffMax || d <= 0 {
		d = c.backoffMax
	}
	half := d / 2
	if half > 0 {
		d = half + rand.N(half+1)
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= d {
		return 0, false
	}
	return d, true
}

// attempt makes one HTTP request.
func (c *Client) attempt(ctx context.Context, n pnr.Number) (registry.Person, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	body, err := json.Marshal(registerapi.LookupRequest{Personnummer: n.Digits()})
	if err != nil {
		return registry.Person{}, &attemptError{reason: ReasonMalformed, err: fmt.Errorf("encode request: %w", err)}
	}
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return registry.Person{}, &attemptError{reason: ReasonConnection, err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The look-up only reads, so a transport failure may be retried; but not a timeout: a
		// register that does not answer within DCC_REGISTER_TIMEOUT will most likely not answer
		// the next attempt either, and the caller's request must not wait for two timeouts.
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return registry.Person{}, &attemptError{reason: ReasonTimeout, err: err}
		}
		return registry.Person{}, &attemptError{reason: ReasonConnection, retryable: true, err: err}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, registerapi.MaxBodyBytes))
		_ = resp.Body.Close()
	}()

	switch resp.StatusCode {
	case http.StatusOK:
		p, err := registerapi.DecodePerson(resp.Body)
		if err != nil {
			reason := ReasonMalformed
			retryable := false
			if !errors.Is(err, registerapi.ErrMalformed) {
				// The body was cut off in transit.
				reason, retryable = ReasonConnection, true
				if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
					reason, retryable = ReasonTimeout, false
				}
			}
			return registry.Person{}, &attemptError{reason: reason, status: resp.StatusCode, retryable: retryable, err: err}
		}
		return p, nil
	case http.StatusBadRequest:
		// The register's named refusal of the number is an answer about the number; any other
		// 400 says the service's request is wrong (configuration or contract).
		if code, err := registerapi.DecodeError(resp.Body); err == nil && code == registerapi.CodeBadRequest {
			return registry.Person{}, registry.ErrRejected
		}
		return registry.Person{}, &attemptError{reason: ReasonStatus, status: resp.StatusCode,
			err: fmt.Errorf("400 without the register's %q body", registerapi.CodeBadRequest)}
	case http.StatusNotFound:
		code, err := registerapi.DecodeError(resp.Body)
		if err == nil && code == registerapi.CodeNotFound {
			return registry.Person{}, registry.ErrNotFound
		}
		return registry.Person{}, &attemptError{reason: ReasonStatus, status: resp.StatusCode,
			err: fmt.Errorf("404 without the register's %q body (wrong URL?)", registerapi.CodeNotFound)}
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return registry.Person{}, &attemptError{reason: ReasonStatus, status: resp.StatusCode, retryable: true,
			err: fmt.Errorf("register answered %s", resp.Status)}
	default:
		return registry.Person{}, &attemptError{reason: ReasonStatus, status: resp.StatusCode,
			err: fmt.Errorf("register answered %s", resp.Status)}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *Client) fromCache(key string) (registry.Person, bool) {
	if c.cache == nil {
		return registry.Person{}, false
	}
	e, ok := c.cache.Get(key)
	if !ok {
		return registry.Person{}, false
	}
	if !c.now().Before(e.expires) {
		c.cache.Remove(key)
		return registry.Person{}, false
	}
	return e.person, true
}

func (c *Client) toCache(key string, p registry.Person) {
	if c.cache == nil {
		return
	}
	c.cache.Add(key, cached{person: p, expires: c.now().Add(c.cacheTTL)})
}

func (c *Client) noteFailure(ae *attemptError) {
	detail := string(ae.reason)
	if ae.status != 0 {
		detail = fmt.Sprintf("%s %d", ae.reason, ae.status)
	}
	c.mu.Lock()
	c.lastFail, c.lastAt = detail, c.now()
	c.mu.Unlock()
}

func (c *Client) setUnusable(v bool) {
	c.mu.Lock()
	c.unusable = v
	c.mu.Unlock()
}

// State reports the register's health: "up" while the breaker is closed and the last attempt
// succeeded, "degraded" while failures are being counted or the breaker is half-open, "down"
// while the breaker is open. The detail names the last failure's kind, never personal data.
func (c *Client) State() registry.State {
	state := c.breaker.State()
	counts := c.breaker.Counts()
	c.mu.Lock()
	last, at, unusable := c.lastFail, c.lastAt, c.unusable
	c.mu.Unlock()
	lastText := ""
	if last != "" {
		lastText = fmt.Sprintf("; last failure %s at %s", last, at.UTC().Format(time.RFC3339))
	}
	s := registry.State{Breaker: state.String()}
	switch state {
	case gobreaker.StateOpen:
		s.Status = "down"
		s.Detail = "circuit open: look-ups fail at once until a probe succeeds" + lastText
	case gobreaker.StateHalfOpen:
		s.Status = "degraded"
		s.Detail = "circuit half-open: one probe allowed" + lastText
	default:
		if unusable {
			s.Status = "down"
			s.Detail = "the register answers look-ups in a way the service cannot use (check DCC_REGISTER_URL and DCC_REGISTER_TOKEN)" + lastText
		} else if counts.ConsecutiveFailures > 0 {
			s.Status = "degraded"
			s.Detail = fmt.Sprintf("%d consecutive failed attempt(s)%s", counts.ConsecutiveFailures, lastText)
		} else {
			s.Status = "up"
		}
	}
	return s
}

// errNotOutage tells the breaker about an attempt the register answered in a way the service
// cannot use; it is neither a success nor an outage.
var errNotOutage = errors.New("register answer not usable")

// outage reports whether a failed attempt means the register is unreachable or failing.
func (a *attemptError) outage() bool {
	switch a.reason {
	case ReasonTimeout, ReasonConnection:
		return true
	case ReasonStatus:
		return outageStatus(a.status)
	}
	return false
}
