// Package setup reads the configuration both commands share (environment variables, overridden
// by flags) and builds the dependencies from it: store, signers, register, issuer.
package setup

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/sedcc/dcc/registry/httpregister"
)

// Config is every setting of dccd and dccctl. Defaults make a development run work with no set-up.
type Config struct {
	Listen string // DCC_LISTEN
	// TLS: dccd serves HTTPS with this certificate chain and key (PEM) when both are set. With
	// TLSClientCAFile, a client certificate issued by one of its CAs is verified in the handshake
	// and, when bound to a provider (dccctl provider bind-cert), authenticates it without a
	// bearer key (docs/security.md). TLSClientCertRequired refuses a handshake without one.
	TLSCertFile           string // DCC_TLS_CERT_FILE
	TLSKeyFile            string // DCC_TLS_KEY_FILE
	TLSClientCAFile       string // DCC_TLS_CLIENT_CA_FILE
	TLSClientCertRequired bool   // DCC_TLS_CLIENT_CERT_REQUIRED, false
	DataDir               string // DCC_DATA_DIR
	DatabaseURL           string // DATABASE_URL
	// DatabaseReadURL is a second, read-only pool for reads that may be stale (DATABASE_READ_URL,
	// e.g. every cluster host with target_session_attrs=prefer-standby); empty: those reads go to
	// DATABASE_URL. See OpenReads and docs/deploy.md.
	DatabaseReadURL string
	// StoreTimeout bounds one PostgreSQL operation (DCC_STORE_TIMEOUT, 3s): a database that stops
	// answering costs a request this long, not more, before it is answered 503 store-unavailable.
	StoreTimeout time.Duration

	RegisterURL  string // DCC_REGISTER_URL
	RegisterFile string // DCC_REGISTER_FILE
	// The sandbox's test population (docs/security.md): an HTTP register of test persons, or a
	// population file; by default the built-in development population. Sandbox requests never
	// reach DCC_REGISTER_URL.
	SandboxRegisterURL   string // DCC_SANDBOX_REGISTER_URL
	SandboxRegisterFile  string // DCC_SANDBOX_REGISTER_FILE
	SandboxRegisterToken string // DCC_SANDBOX_REGISTER_TOKEN
	// Register is the HTTP register client's settings (DCC_REGISTER_*, docs/register-api.md),
	// read when DCC_REGISTER_URL is set.
	Register httpregister.Options

	// Signing keys per environment. Empty: a development key and self-signed DSC under
	// DataDir/keys/<environment>, created on first start.
	ProductionKeyFile  string // DCC_PRODUCTION_KEY_FILE
	ProductionCertFile string // DCC_PRODUCTION_CERT_FILE
	SandboxKeyFile     string // DCC_SANDBOX_KEY_FILE
	SandboxCertFile    string // DCC_SANDBOX_CERT_FILE
	// Signing keys in a PKCS #11 token (HSM), per environment; when set they replace the key
	// files (hsm.go, docs/keys.md). PKCS11Sessions is the session pool per token
	// (DCC_PKCS11_SESSIONS, 8).
	ProductionHSM  HSM
	SandboxHSM     HSM
	PKCS11Sessions int

	// SubjectKeyFile holds the secret that keys personnummer hashes. Empty: DataDir/subject.key,
	// created on first start.
	SubjectKeyFile string // DCC_SUBJECT_KEY_FILE

	Country      string        // DCC_COUNTRY, "SE"
	IssuerName   string        // DCC_ISSUER_NAME
	UVCIPrefix   string        // DCC_UVCI_PREFIX, issuing entity in the UVCI
	MaxTestAge   time.Duration // DCC_MAX_TEST_AGE, 72h
	ClockSkew    time.Duration // DCC_CLOCK_SKEW, 5m
	TestValidity time.Duration // DCC_TEST_VALIDITY, 72h
	RecValidity  time.Duration // DCC_RECOVERY_VALIDITY, 4320h (180 days)
	VacValidity  time.Duration // DCC_VACCINATION_VALIDITY, 8760h (365 days)
	// TestIdentities: comma-separated personnummer or prefixes refused in production.
	TestIdentities []string // DCC_TEST_IDENTITIES

	KeyCacheTTL time.Duration // DCC_KEY_CACHE_TTL, how long a verified API key is cached

	// Admission control of issuance (docs/overload.md): at most IssueConcurrency requests do the
	// work at once, IssueQueue more wait up to IssueWait for a slot, the rest get 503 overloaded.
	IssueConcurrency   int           // DCC_ISSUE_CONCURRENCY, default DefaultIssueConcurrency (3 x CPUs)
	IssueQueue         int           // DCC_ISSUE_QUEUE, default 4 x IssueConcurrency
	IssueWait          time.Duration // DCC_ISSUE_WAIT, 100ms
	IssueRetryAfterMax time.Duration // DCC_ISSUE_RETRY_AFTER_MAX, 30s
	// IssuePerCredential caps the slots one credential holds at once (DCC_ISSUE_PER_CREDENTIAL,
	// default: all but a quarter of IssueConcurrency, at least one kept for the others).
	IssuePerCredential int
	// BodyTimeout bounds the arrival of a request body, read before a slot is taken
	// (DCC_BODY_TIMEOUT, 10s).
	BodyTimeout time.Duration
	// TrustedProxies: comma-separated networks (CIDR) of reverse proxies whose X-Forwarded-For
	// names the client (DCC_TRUSTED_PROXIES; empty: none, the peer is the client).
	TrustedProxies []*net.IPNet
	// OverloadPace is the longest pause before refusing a connection that came back before its
	// Retry-After (DCC_OVERLOAD_PACE, 1s; 0 answers every refusal at once).
	OverloadPace time.Duration
	// AuditQueue bounds the refusals waiting to be audited (DCC_AUDIT_QUEUE, 10000);
	// AuditRefusalRate is the most refusals recorded one by one per second, beyond which they are
	// counted in a summary event (DCC_AUDIT_REFUSAL_RATE, 200; docs/overload.md).
	AuditQueue       int
	AuditRefusalRate int
	// AuditSpoolDir holds the audit events the store could not take during an outage until it
	// takes them again (DCC_AUDIT_SPOOL_DIR, default DataDir/audit-spool); AuditSpoolMax bounds it
	// in bytes (DCC_AUDIT_SPOOL_MAX, 67108864), beyond which events are counted as dropped.
	AuditSpoolDir string
	AuditSpoolMax int

	// ProviderRate and ProviderBurst limit each provider credential (token bucket); a rate of 0
	// disables the limit.
	ProviderRate  float64 // DCC_PROVIDER_RATE, requests per second, 50
	ProviderBurst int     // DCC_PROVIDER_BURST, 100
	// AuthFailureRate and AuthFailureBurst bound failed authentications per client address; a
	// rate of 0 disables the limit.
	AuthFailureRate  float64 // DCC_AUTH_FAILURE_RATE, failures per second, 1
	AuthFailureBurst int     // DCC_AUTH_FAILURE_BURST, 20

	LogFormat string // DCC_LOG_FORMAT: json or text
	LogLevel  string // DCC_LOG_LEVEL: debug, info, warn, error

	ShutdownTimeout time.Duration // DCC_SHUTDOWN_TIMEOUT

	// RequestRetention is how long a client's X-Request-ID is remembered for replay
	// (DCC_REQUEST_RETENTION, 720h = 30 days).
	RequestRetention time.Duration
	// AuditRetention is how long audit events are kept (DCC_AUDIT_RETENTION); older ones are
	// purged hourly in batches. 0, the default, keeps them: how long an issuance log must be kept
	// is the operator's legal decision, not the software's.
	AuditRetention time.Duration

	// Citizens (docs/citizens.md): the API under /api/v1/me and the web page at /, served unless
	// CitizenService is false (DCC_CITIZEN_SERVICE=false; then providers hand certificates out).
	CitizenService bool
	// CitizenSandbox also shows citizens the certificates issued to their number with sandbox
	// credentials (DCC_CITIZEN_SANDBOX, false; make run turns it on, since development providers
	// are sandbox providers). Never in production.
	CitizenSandbox bool
	// The citizens' identity provider: issuer (DCC_OIDC_ISSUER, the development stand-in at
	// http://127.0.0.1:8091), access-token audience (DCC_OIDC_AUDIENCE, dcc-citizen), JWKS
	// (DCC_OIDC_JWKS_URL, the issuer's /jwks), personnummer claim (DCC_OIDC_PNR_CLAIM) and the
	// web page's client id there (DCC_OIDC_CLIENT_ID, dcc-web).
	OIDCIssuer   string
	OIDCAudience string
	OIDCJWKSURL  string
	OIDCPNRClaim string
	OIDCClientID string
	// PublicURL is the web page's address as citizens reach it (DCC_PUBLIC_URL); empty: each
	// request's own. An https address makes the session cookie Secure.
	PublicURL string
	// SessionTTL is how long a web session lasts (DCC_SESSION_TTL, 30m).
	SessionTTL time.Duration
	// The citizens' admission budget, apart from the providers': CitizenConcurrency requests at
	// once (DCC_CITIZEN_CONCURRENCY, 4 x CPUs), CitizenQueue waiting (DCC_CITIZEN_QUEUE, 4 x
	// that) up to CitizenWait (DCC_CITIZEN_WAIT, 100ms).
	CitizenConcurrency int
	CitizenQueue       int
	CitizenWait        time.Duration
	// CitizenCacheBytes bounds the rendered documents kept in memory (DCC_CITIZEN_CACHE_BYTES,
	// 67108864 = 64 MiB).
	CitizenCacheBytes int
	// The citizens' virtual queue (docs/queue.md): QueueRate newcomers let in a second
	// (DCC_QUEUE_RATE; 0, the default, leaves the queue out), up to QueueBurst at once after a
	// quiet spell (DCC_QUEUE_BURST; 0: one second's worth). An admission lasts QueueAdmitTTL
	// (DCC_QUEUE_ADMIT_TTL, 10m); a ticket may be redeemed until QueueGrace after its time
	// (DCC_QUEUE_GRACE, 10m).
	QueueRate     float64
	QueueBurst    int
	QueueAdmitTTL time.Duration
	QueueGrace    time.Duration
	// QueueAddressRate and QueueAddressBurst limit the places one client address takes
	// (DCC_QUEUE_ADDRESS_RATE a second, 20, 0 for no limit; DCC_QUEUE_ADDRESS_BURST, 200).
	QueueAddressRate  float64
	QueueAddressBurst int

	// StatusInterval is the time between two checks of the dependencies (/status);
	// IncidentThreshold how long one must be red before an incident is opened.
	StatusInterval    time.Duration // DCC_STATUS_INTERVAL, 10s
	IncidentThreshold time.Duration // DCC_INCIDENT_THRESHOLD, 60s
}

// DefaultIssueConcurrency is the default of DCC_ISSUE_CONCURRENCY: three issuances at once per
// CPU. With group commit an admitted issuance spends part of its time waiting for a shared
// durable commit rather than using a core, so twice the CPUs (the default while documents took
// milliseconds of processor each) left the cores idle at times. Measured with make compare on two
// cores (docs/perf.md, docs/overload.md): with 6 slots p99 at 80 % of peak stayed under 50 ms in
// four runs of six (50 and 53 ms in the others); 8 issued somewhat more in most runs but with that
// p99 above 50 ms in five of seven.
func DefaultIssueConcurrency() int { return 3 * runtime.GOMAXPROCS(0) }

// Defaults returns the configuration with nothing set.
func Defaults() Config {
	return Config{
		Listen:             "127.0.0.1:8080",
		DataDir:            "./data",
		StoreTimeout:       3 * time.Second,
		Country:            "SE",
		IssuerName:         "Swedish eHealth Agency",
		UVCIPrefix:         "DCC",
		MaxTestAge:         72 * time.Hour,
		ClockSkew:          5 * time.Minute,
		TestValidity:       72 * time.Hour,
		RecValidity:        180 * 24 * time.Hour,
		VacValidity:        365 * 24 * time.Hour,
		KeyCacheTTL:        30 * time.Second,
		IssueConcurrency:   DefaultIssueConcurrency(),
		IssueWait:          100 * time.Millisecond,
		IssueRetryAfterMax: 30 * time.Second,
		OverloadPace:       time.Second,
		AuditQueue:         10000,
		AuditRefusalRate:   200,
		AuditSpoolMax:      64 << 20,
		ProviderRate:       50,
		BodyTimeout:        10 * time.Second,
		AuthFailureRate:    1,
		AuthFailureBurst:   20,
		ProviderBurst:      100,
		LogFormat:          "text",
		LogLevel:           "info",
		ShutdownTimeout:    20 * time.Second,
		PKCS11Sessions:     8,
		RequestRetention:   30 * 24 * time.Hour,

		CitizenService:     true,
		OIDCIssuer:         "http://127.0.0.1:8091",
		OIDCAudience:       "dcc-citizen",
		OIDCPNRClaim:       "https://id.oidc.se/claim/personalIdentityNumber",
		OIDCClientID:       "dcc-web",
		SessionTTL:         30 * time.Minute,
		CitizenConcurrency: 4 * runtime.GOMAXPROCS(0),
		CitizenWait:        100 * time.Millisecond,
		CitizenCacheBytes:  64 << 20,
		QueueAdmitTTL:      10 * time.Minute,
		QueueGrace:         10 * time.Minute,
		QueueAddressRate:   20,
		QueueAddressBurst:  200,

		StatusInterval:    10 * time.Second,
		IncidentThreshold: 60 * time.Second,
	}
}

// FromEnv reads the environment over the defaults. getenv is os.Getenv outside tests. Every
// invalid value is reported, each naming its variable.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Defaults()
	var errs []error
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	dur := func(name string, dst *time.Duration) {
		if v := getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				errs = append(errs, fmt.Errorf("%s=%q: want a duration such as 72h or 500ms", name, v))
				return
			}
			*dst = d
		}
	}
	str("DCC_LISTEN", &c.Listen)
	str("DCC_DATA_DIR", &c.DataDir)
	str("DATABASE_URL", &c.DatabaseURL)
	str("DATABASE_READ_URL", &c.DatabaseReadURL)
	str("DCC_REGISTER_URL", &c.RegisterURL)
	str("DCC_REGISTER_FILE", &c.RegisterFile)
	str("DCC_SANDBOX_REGISTER_URL", &c.SandboxRegisterURL)
	str("DCC_SANDBOX_REGISTER_FILE", &c.SandboxRegisterFile)
	str("DCC_SANDBOX_REGISTER_TOKEN", &c.SandboxRegisterToken)
	if c.SandboxRegisterURL != "" && c.SandboxRegisterURL == c.RegisterURL {
		errs = append(errs, fmt.Errorf("DCC_SANDBOX_REGISTER_URL is DCC_REGISTER_URL: the sandbox must resolve against a test population, never the population register"))
	}
	if c.RegisterURL != "" {
		o, err := httpregister.OptionsFromEnv(getenv)
		if err != nil {
			errs = append(errs, err)
		}
		c.Register = o
	}
	str("DCC_PRODUCTION_KEY_FILE", &c.ProductionKeyFile)
	str("DCC_PRODUCTION_CERT_FILE", &c.ProductionCertFile)
	str("DCC_SANDBOX_KEY_FILE", &c.SandboxKeyFile)
	str("DCC_SANDBOX_CERT_FILE", &c.SandboxCertFile)
	str("DCC_SUBJECT_KEY_FILE", &c.SubjectKeyFile)
	errs = append(errs, hsmFromEnv(getenv, &c)...)
	str("DCC_COUNTRY", &c.Country)
	str("DCC_ISSUER_NAME", &c.IssuerName)
	str("DCC_UVCI_PREFIX", &c.UVCIPrefix)
	dur("DCC_MAX_TEST_AGE", &c.MaxTestAge)
	dur("DCC_CLOCK_SKEW", &c.ClockSkew)
	dur("DCC_TEST_VALIDITY", &c.TestValidity)
	dur("DCC_RECOVERY_VALIDITY", &c.RecValidity)
	dur("DCC_VACCINATION_VALIDITY", &c.VacValidity)
	dur("DCC_KEY_CACHE_TTL", &c.KeyCacheTTL)
	str("DCC_TLS_CERT_FILE", &c.TLSCertFile)
	str("DCC_TLS_KEY_FILE", &c.TLSKeyFile)
	str("DCC_TLS_CLIENT_CA_FILE", &c.TLSClientCAFile)
	if v := getenv("DCC_TLS_CLIENT_CERT_REQUIRED"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("DCC_TLS_CLIENT_CERT_REQUIRED=%q: want true or false", v))
		}
		c.TLSClientCertRequired = b
	}
	dur("DCC_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout)
	dur("DCC_STORE_TIMEOUT", &c.StoreTimeout)
	dur("DCC_REQUEST_RETENTION", &c.RequestRetention)
	dur("DCC_AUDIT_RETENTION", &c.AuditRetention)
	dur("DCC_STATUS_INTERVAL", &c.StatusInterval)
	dur("DCC_INCIDENT_THRESHOLD", &c.IncidentThreshold)
	if v := getenv("DCC_TEST_IDENTITIES"); v != "" {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.TestIdentities = append(c.TestIdentities, p)
			}
		}
	}
	intVar := func(name string, dst *int, min int) {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < min {
				errs = append(errs, fmt.Errorf("%s=%q: want a whole number of at least %d", name, v, min))
				return
			}
			*dst = n
		}
	}
	intVar("DCC_ISSUE_CONCURRENCY", &c.IssueConcurrency, 1)
	intVar("DCC_ISSUE_QUEUE", &c.IssueQueue, 0)
	dur("DCC_ISSUE_WAIT", &c.IssueWait)
	dur("DCC_ISSUE_RETRY_AFTER_MAX", &c.IssueRetryAfterMax)
	intVar("DCC_ISSUE_PER_CREDENTIAL", &c.IssuePerCredential, 1)
	dur("DCC_BODY_TIMEOUT", &c.BodyTimeout)
	dur("DCC_OVERLOAD_PACE", &c.OverloadPace)
	if v := getenv("DCC_TRUSTED_PROXIES"); v != "" {
		for _, part := range strings.Split(v, ",") {
			_, n, err := net.ParseCIDR(strings.TrimSpace(part))
			if err != nil {
				errs = append(errs, fmt.Errorf("DCC_TRUSTED_PROXIES: %q is not a network such as 192.0.2.0/24", strings.TrimSpace(part)))
				continue
			}
			c.TrustedProxies = append(c.TrustedProxies, n)
		}
	}
	intVar("DCC_AUDIT_QUEUE", &c.AuditQueue, 1)
	intVar("DCC_AUDIT_REFUSAL_RATE", &c.AuditRefusalRate, 0)
	str("DCC_AUDIT_SPOOL_DIR", &c.AuditSpoolDir)
	intVar("DCC_AUDIT_SPOOL_MAX", &c.AuditSpoolMax, 4096)
	if c.IssueQueue == 0 && getenv("DCC_ISSUE_QUEUE") == "" {
		c.IssueQueue = 4 * c.IssueConcurrency
	}
	if c.IssuePerCredential == 0 {
		c.IssuePerCredential = max(1, c.IssueConcurrency-max(1, c.IssueConcurrency/4))
	}
	if v := getenv("DCC_PROVIDER_RATE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			errs = append(errs, fmt.Errorf("DCC_PROVIDER_RATE=%q: want requests per second, e.g. 50 (0 disables)", v))
		} else {
			c.ProviderRate = f
		}
	}
	if v := getenv("DCC_PROVIDER_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("DCC_PROVIDER_BURST=%q: want a whole number of at least 1", v))
		} else {
			c.ProviderBurst = n
		}
	}
	if v := getenv("DCC_CITIZEN_SERVICE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("DCC_CITIZEN_SERVICE=%q: want true or false", v))
		} else {
			c.CitizenService = b
		}
	}
	if v := getenv("DCC_CITIZEN_SANDBOX"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("DCC_CITIZEN_SANDBOX=%q: want true or false", v))
		} else {
			c.CitizenSandbox = b
		}
	}
	str("DCC_OIDC_ISSUER", &c.OIDCIssuer)
	str("DCC_OIDC_AUDIENCE", &c.OIDCAudience)
	str("DCC_OIDC_JWKS_URL", &c.OIDCJWKSURL)
	str("DCC_OIDC_PNR_CLAIM", &c.OIDCPNRClaim)
	str("DCC_OIDC_CLIENT_ID", &c.OIDCClientID)
	str("DCC_PUBLIC_URL", &c.PublicURL)
	dur("DCC_SESSION_TTL", &c.SessionTTL)
	intVar("DCC_CITIZEN_CONCURRENCY", &c.CitizenConcurrency, 1)
	intVar("DCC_CITIZEN_QUEUE", &c.CitizenQueue, 0)
	dur("DCC_CITIZEN_WAIT", &c.CitizenWait)
	intVar("DCC_CITIZEN_CACHE_BYTES", &c.CitizenCacheBytes, 1<<20)
	if c.CitizenQueue == 0 && getenv("DCC_CITIZEN_QUEUE") == "" {
		c.CitizenQueue = 4 * c.CitizenConcurrency
	}
	if v := getenv("DCC_QUEUE_RATE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 0) || f > 1e6 {
			errs = append(errs, fmt.Errorf("DCC_QUEUE_RATE=%q: want citizens let in a second, e.g. 200 (0 leaves the queue out)", v))
		} else {
			c.QueueRate = f
		}
	}
	intVar("DCC_QUEUE_BURST", &c.QueueBurst, 0)
	if v := getenv("DCC_QUEUE_ADDRESS_RATE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 0) {
			errs = append(errs, fmt.Errorf("DCC_QUEUE_ADDRESS_RATE=%q: want places in the queue one client address may take a second, e.g. 20 (0: no limit)", v))
		} else {
			c.QueueAddressRate = f
		}
	}
	intVar("DCC_QUEUE_ADDRESS_BURST", &c.QueueAddressBurst, 1)
	dur("DCC_QUEUE_ADMIT_TTL", &c.QueueAdmitTTL)
	dur("DCC_QUEUE_GRACE", &c.QueueGrace)
	if v := getenv("DCC_AUTH_FAILURE_RATE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			errs = append(errs, fmt.Errorf("DCC_AUTH_FAILURE_RATE=%q: want failures per second per client address, e.g. 1 (0 disables)", v))
		} else {
			c.AuthFailureRate = f
		}
	}
	if v := getenv("DCC_AUTH_FAILURE_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("DCC_AUTH_FAILURE_BURST=%q: want a whole number of at least 1", v))
		} else {
			c.AuthFailureBurst = n
		}
	}
	str("DCC_LOG_FORMAT", &c.LogFormat)
	str("DCC_LOG_LEVEL", &c.LogLevel)
	errs = append(errs, c.Validate()...)
	return c, errors.Join(errs...)
}

// Validate checks values that do not depend on how they were given.
func (c Config) Validate() []error {
	var errs []error
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("DCC_LOG_FORMAT=%q: want json or text", c.LogFormat))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("DCC_LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel))
	}
	if len(c.Country) != 2 || strings.ToUpper(c.Country) != c.Country {
		errs = append(errs, fmt.Errorf("DCC_COUNTRY=%q: want a two-letter code such as SE", c.Country))
	}
	for _, r := range c.UVCIPrefix {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			errs = append(errs, fmt.Errorf("DCC_UVCI_PREFIX=%q: want capital letters A-Z and digits only", c.UVCIPrefix))
			break
		}
	}
	if len(c.UVCIPrefix) > 13 {
		errs = append(errs, fmt.Errorf("DCC_UVCI_PREFIX=%q: at most 13 characters, so that UVCIs stay within 80", c.UVCIPrefix))
	}
	for name, d := range map[string]time.Duration{
		"DCC_MAX_TEST_AGE": c.MaxTestAge, "DCC_TEST_VALIDITY": c.TestValidity,
		"DCC_RECOVERY_VALIDITY": c.RecValidity, "DCC_VACCINATION_VALIDITY": c.VacValidity,
		"DCC_SHUTDOWN_TIMEOUT": c.ShutdownTimeout, "DCC_ISSUE_RETRY_AFTER_MAX": c.IssueRetryAfterMax,
		"DCC_REQUEST_RETENTION": c.RequestRetention, "DCC_STORE_TIMEOUT": c.StoreTimeout,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s=%s: must be longer than zero", name, d))
		}
	}
	if c.AuditRetention < 0 || c.AuditRetention > 0 && c.AuditRetention < c.RequestRetention {
		errs = append(errs, fmt.Errorf("DCC_AUDIT_RETENTION=%s: 0 (keep) or at least DCC_REQUEST_RETENTION (%s), so that a replayed request's original event is still there", c.AuditRetention, c.RequestRetention))
	}
	if (c.ProductionKeyFile == "") != (c.ProductionCertFile == "") {
		errs = append(errs, errors.New("DCC_PRODUCTION_KEY_FILE and DCC_PRODUCTION_CERT_FILE must be set together"))
	}
	if (c.SandboxKeyFile == "") != (c.SandboxCertFile == "") {
		errs = append(errs, errors.New("DCC_SANDBOX_KEY_FILE and DCC_SANDBOX_CERT_FILE must be set together"))
	}
	errs = append(errs, c.validateHSM()...)
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("DCC_TLS_CERT_FILE and DCC_TLS_KEY_FILE must be set together"))
	}
	if c.TLSClientCAFile != "" && c.TLSCertFile == "" {
		errs = append(errs, errors.New("DCC_TLS_CLIENT_CA_FILE needs DCC_TLS_CERT_FILE and DCC_TLS_KEY_FILE: client certificates are only seen over TLS"))
	}
	if c.TLSClientCertRequired && c.TLSClientCAFile == "" {
		errs = append(errs, errors.New("DCC_TLS_CLIENT_CERT_REQUIRED needs DCC_TLS_CLIENT_CA_FILE, the CAs whose client certificates are accepted"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("DCC_DATA_DIR must not be empty"))
	}
	if c.DatabaseReadURL != "" && c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_READ_URL needs DATABASE_URL: the read pool reads the same PostgreSQL cluster"))
	}
	if c.StatusInterval < time.Second {
		errs = append(errs, fmt.Errorf("DCC_STATUS_INTERVAL=%s: want at least 1s", c.StatusInterval))
	}
	if c.CitizenService {
		for name, v := range map[string]string{"DCC_OIDC_ISSUER": c.OIDCIssuer, "DCC_OIDC_JWKS_URL": c.OIDCJWKSURL, "DCC_PUBLIC_URL": c.PublicURL} {
			if v == "" && name != "DCC_OIDC_ISSUER" {
				continue
			}
			if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				errs = append(errs, fmt.Errorf("%s=%q: want an http(s) URL", name, v))
			}
		}
		if c.OIDCAudience == "" || c.OIDCClientID == "" || c.OIDCPNRClaim == "" {
			errs = append(errs, errors.New("DCC_OIDC_AUDIENCE, DCC_OIDC_CLIENT_ID and DCC_OIDC_PNR_CLAIM must not be empty"))
		}
		if c.SessionTTL < time.Minute {
			errs = append(errs, fmt.Errorf("DCC_SESSION_TTL=%s: want at least 1m", c.SessionTTL))
		}
	}
	if c.IncidentThreshold <= 0 {
		errs = append(errs, fmt.Errorf("DCC_INCIDENT_THRESHOLD=%s: want a positive duration such as 60s", c.IncidentThreshold))
	}
	return errs
}

// Flags registers the flags that override the environment on fs.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "address to serve on (DCC_LISTEN)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "embedded store, development keys and secrets (DCC_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "PostgreSQL URL; when set the embedded store is not used (DATABASE_URL)")
	fs.StringVar(&c.RegisterFile, "register-file", c.RegisterFile, "population file for the file-backed register (DCC_REGISTER_FILE)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "json or text (DCC_LOG_FORMAT)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (DCC_LOG_LEVEL)")
}
