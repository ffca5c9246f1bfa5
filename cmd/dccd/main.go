// Command dccd serves the EU DCC issuance service.
//
// Configuration comes from the environment (DCC_*, DATABASE_URL; see README.md), overridden by
// flags. With nothing set it runs on the embedded store in ./data with development keys.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sedcc/dcc/cmd/internal/setup"
	"github.com/sedcc/dcc/docs"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/admission"
	"github.com/sedcc/dcc/issuer/auditspool"
	"github.com/sedcc/dcc/issuer/httpapi"
	"github.com/sedcc/dcc/issuer/idtoken"
	"github.com/sedcc/dcc/issuer/metrics"
	"github.com/sedcc/dcc/issuer/queue"
	"github.com/sedcc/dcc/issuer/status"
	"github.com/sedcc/dcc/registry"
	"github.com/sedcc/dcc/signing/valueset"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(runWith(os.Args[1:], os.Getenv, os.Stderr))
}

func runWith(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := setup.FromEnv(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "dccd: configuration: %v\n", err)
		return 2
	}
	fs := flag.NewFlagSet("dccd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.Flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		fmt.Fprintf(stderr, "dccd: configuration: %v\n", errors.Join(errs...))
		return 2
	}
	log := setup.Logger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, cfg, log, nil); err != nil {
		log.Error("dccd stopped", "err", err)
		return 1
	}
	return 0
}

// serve builds every dependency, listens and serves until ctx ends, then shuts down gracefully:
// it stops accepting, lets in-flight requests finish within the shutdown timeout, closes the store.
// ready, when not nil, receives the listening address.
func serve(ctx context.Context, cfg setup.Config, log *slog.Logger, ready chan<- string) error {
	raw, err := setup.StartStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := raw.Close(); err != nil {
			log.Warn("close store", "err", err)
		}
	}()
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Options{})
	if err != nil {
		return err
	}
	// Audit events the store cannot take during an outage wait in a local spool, replayed in order.
	spoolDir := cfg.AuditSpoolDir
	if spoolDir == "" {
		spoolDir = filepath.Join(cfg.DataDir, "audit-spool")
	}
	spool, err := auditspool.Open(spoolDir, int64(cfg.AuditSpoolMax))
	if err != nil {
		return fmt.Errorf("DCC_AUDIT_SPOOL_DIR: %w", err)
	}
	defer func() {
		if err := spool.Close(); err != nil {
			log.Warn("close audit spool", "err", err)
		}
	}()
	if err := m.WatchAuditSpool(spool.Stats); err != nil {
		return err
	}
	spooled := auditspool.Wrap(m.InstrumentStore(raw), spool, auditspool.Options{Log: log, Clock: time.Now, NewID: setup.NewEventID})
	var st issuer.Store = spooled
	// The read pool (DATABASE_READ_URL) for reads that may be stale; without it they go to st.
	reads, err := setup.OpenReads(ctx, cfg, st)
	if err != nil {
		return err
	}
	defer func() {
		if err := reads.Close(); err != nil {
			log.Warn("close read pool", "err", err)
		}
	}()
	signers, tokens, err := setup.Signers(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := tokens.Close(); err != nil {
			log.Warn("close signing tokens", "err", err)
		}
	}()
	subjectKey, err := setup.SubjectKey(cfg)
	if err != nil {
		return err
	}
	reg, err := setup.Register(cfg, log, m.TrackBreaker())
	if err != nil {
		return err
	}
	if rep, ok := reg.(registry.Reporter); ok {
		if err := m.WatchRegister(rep.State); err != nil {
			return err
		}
	}
	sandboxReg, err := setup.SandboxRegister(cfg, log)
	if err != nil {
		return err
	}
	limiter, err := admission.New(admission.Config{Name: "issue", Limit: cfg.IssueConcurrency, Queue: cfg.IssueQueue,
		Wait: cfg.IssueWait, MaxRetryAfter: cfg.IssueRetryAfterMax})
	if err != nil {
		return fmt.Errorf("DCC_ISSUE_*: %w", err)
	}
	values, err := valueset.Load()
	if err != nil {
		return err
	}
	svc, err := setup.Issuer(cfg, st, reads, signers, reg, sandboxReg, subjectKey, values, log, time.Now, m)
	if err != nil {
		return err
	}
	revs, err := setup.Revocations(cfg, st, signers, values, log, time.Now)
	if err != nil {
		return err
	}
	line, err := citizenQueue(cfg, subjectKey, st)
	if err != nil {
		return err
	}
	citizens, citizenLimiter, err := citizenRoutes(cfg, subjectKey, issuer.NewCitizenView(reads, svc, cfg.CitizenSandbox), line)
	if err != nil {
		return err
	}
	if line != nil {
		if err := m.WatchQueue(line.Stats); err != nil {
			return err
		}
	}
	limiters := []*admission.Limiter{limiter}
	if citizenLimiter != nil {
		limiters = append(limiters, citizenLimiter)
	}
	if err := m.WatchLimiters(limiters...); err != nil {
		return err
	}
	// The monitor stops before the store closes (defers run last in, first out).
	monitor, err := statusMonitor(cfg, st, reads, svc, reg, spool, line, log)
	if err != nil {
		return err
	}
	// Background work (the status monitor, the request-id retention) stops before the store
	// closes: defers run last in, first out.
	bgCtx, stopBackground := context.WithCancel(ctx)
	var background sync.WaitGroup
	background.Go(func() { monitor.Run(bgCtx) })
	background.Go(func() { svc.RunRetention(bgCtx, time.Hour, cfg.RequestRetention) })
	background.Go(func() { spooled.Run(bgCtx, time.Second) })
	// The trust list names every DSC the service has signed with, retired ones included: the
	// current ones are remembered as soon as the store answers (it may still be starting).
	background.Go(func() { revs.RunRecordSigningCertificates(bgCtx, 5*time.Second) })
	background.Go(func() { svc.RunAuditRetention(bgCtx, time.Hour, cfg.AuditRetention) })
	defer func() {
		stopBackground()
		background.Wait()
	}()

	// Refusals are audited off the request path; what is queued is written before the store closes.
	refusals := issuer.NewAuditQueue(st, log, setup.NewEventID, time.Now,
		issuer.AuditQueueOptions{Size: cfg.AuditQueue, PerSecond: cfg.AuditRefusalRate})
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := refusals.Close(fctx); err != nil {
			log.Warn("audit queue not flushed", "err", err)
		}
	}()

	srv := httpapi.New(httpapi.Options{
		Issuer:             svc,
		Revocations:        revs,
		Credentials:        issuer.NewCredentials(st, time.Now, cfg.KeyCacheTTL),
		Values:             values,
		Log:                log,
		OpenAPI:            docs.OpenAPI,
		Version:            version,
		ProviderRate:       httpapi.RateLimit{Rate: cfg.ProviderRate, Burst: cfg.ProviderBurst},
		AuthFailures:       httpapi.AuthFailureLimit{Rate: cfg.AuthFailureRate, Burst: cfg.AuthFailureBurst},
		BodyTimeout:        cfg.BodyTimeout,
		SlotsPerCredential: cfg.IssuePerCredential,
		Admission:          limiter,
		OverloadPace:       cfg.OverloadPace,
		TrustedProxies:     cfg.TrustedProxies,
		Metrics:            m,
		AuditQueue:         refusals,
		Status:             monitor,
		Changes:            httpapi.ScheduledChanges(),
		Citizens:           citizens,
	})
	go publishChanges(ctx, st, httpapi.ScheduledChanges(), log)

	tlsConf, err := setup.TLSConfig(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on DCC_LISTEN %s: %w", cfg.Listen, err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	store := "embedded (" + cfg.DataDir + ")"
	if cfg.DatabaseURL != "" {
		store = "postgresql"
		if cfg.DatabaseReadURL != "" {
			store = "postgresql, read pool on DATABASE_READ_URL"
		}
	}
	register := "file"
	if cfg.RegisterURL != "" {
		register = cfg.RegisterURL
	}
	for env, s := range signers {
		log.Info("signing key", "environment", env, "kid", fmt.Sprintf("%x", s.KID()))
	}
	log.Info("dccd serving", "addr", ln.Addr().String(), "tls", tlsConf != nil, "client_certificates", cfg.TLSClientCAFile != "", "store", store, "register", register, "version", version)
	if citizens != nil {
		page := cfg.PublicURL
		if page == "" {
			page = "http://" + ln.Addr().String()
			if tlsConf != nil {
				page = "https://" + ln.Addr().String()
			}
		}
		log.Info("citizen page", "url", page+"/", "identity_provider", cfg.OIDCIssuer)
	}
	if ready != nil {
		ready <- ln.Addr().String()
	}

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// statusMonitor watches the store and the signing keys (critical: without them nothing is
// issued) and the population register when it reports its state (not critical: the birth-date
// fallback keeps issuance going), the local audit spool (not critical either: it yellows while it
// keeps audit events for the store) and the read pool (DATABASE_READ_URL) when there is one (not
// critical: issuance does not use it), for /status. Signing is read from the issuer, which
// readiness and issuance read too; the register is probed, so its light does not wait for a
// failing request.
func statusMonitor(cfg setup.Config, st issuer.Store, reads setup.Reads, svc *issuer.Service,
	reg registry.Register, spool *auditspool.Spool, line *queue.Queue, log *slog.Logger) (*status.Monitor, error) {
	deps := []status.Dependency{
		{Name: status.DependencyStore, Title: "Certificate store", Probe: status.StoreProbe(st), Critical: true},
		{Name: status.DependencySigning, Title: "Signing", Probe: status.SigningProbe(svc, time.Now, 0), Critical: true},
	}
	deps = append(deps, status.Dependency{Name: auditspool.DependencyName, Title: "Audit spool", Probe: spool.Probe()})
	if r, ok := reg.(registry.Reporter); ok {
		deps = append(deps, status.Dependency{Name: status.DependencyRegister, Title: "Population register", Probe: status.RegisterProbe(r)})
	}
	if cfg.DatabaseReadURL != "" {
		// Not critical: issuance does not use the read pool.
		deps = append(deps, status.Dependency{Name: "store-read", Title: "Certificate store, read pool", Probe: readPoolProbe(reads)})
	}
	if line != nil {
		// Not critical: a queue is the service coping with a rush of citizens.
		deps = append(deps, status.Dependency{Name: queue.DependencyName, Title: "Citizens' queue", Probe: line.Probe()})
	}
	m, err := status.New(status.Options{
		Events:       st,
		Dependencies: deps,
		Interval:     cfg.StatusInterval,
		Threshold:    cfg.IncidentThreshold,
		Clock:        time.Now,
		NewID:        setup.NewEventID,
		Log:          log.With("component", "status"),
	})
	if err != nil {
		return nil, fmt.Errorf("status monitor: %w", err)
	}
	return m, nil
}

// publishChanges posts the status notices of the announced API changes, retrying while the store
// is unavailable (dccd starts during a database outage).
func publishChanges(ctx context.Context, st issuer.StatusStore, changes []httpapi.APIChange, log *slog.Logger) {
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		n, err := httpapi.PublishChanges(ctx, st, changes, time.Now())
		if err == nil {
			if n > 0 {
				log.Info("API change notices published", "count", n)
			}
			return
		}
		log.Warn("API change notices not published yet", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// readPoolProbe is green while the read pool (DATABASE_READ_URL) answers a ping.
func readPoolProbe(p status.Pinger) status.Probe {
	return func(ctx context.Context) (status.Light, string) {
		if err := p.Ping(ctx); err != nil {
			return status.Red, "The read pool of the certificate store does not answer: issuance goes on; reads that use it fail."
		}
		return status.Green, "The read pool of the certificate store answers."
	}
}

// citizenQueue builds the citizens' virtual queue over the store's shared line, nil when
// DCC_QUEUE_RATE is 0 or there are no citizens' routes. Its tickets are signed with a key derived
// from the subject key, so every replica sharing the data verifies them and nothing new is kept.
func citizenQueue(cfg setup.Config, subjectKey []byte, st issuer.QueueStore) (*queue.Queue, error) {
	if !cfg.CitizenService || cfg.QueueRate == 0 {
		return nil, nil
	}
	q, err := queue.New(queue.Config{Rate: cfg.QueueRate, Burst: cfg.QueueBurst, AdmitTTL: cfg.QueueAdmitTTL,
		Grace: cfg.QueueGrace, Key: subjectKey, Store: st, Clock: time.Now})
	if err != nil {
		return nil, fmt.Errorf("DCC_QUEUE_*: %w", err)
	}
	return q, nil
}

// citizenRoutes builds the citizens' API and web page: the token verifier for the identity
// provider, the citizens' own admission budget, the sign-in. nil when DCC_CITIZEN_SERVICE=false.
func citizenRoutes(cfg setup.Config, subjectKey []byte, view *issuer.CitizenView, line *queue.Queue) (*httpapi.Citizens, *admission.Limiter, error) {
	if !cfg.CitizenService {
		return nil, nil, nil
	}
	verifier, err := idtoken.New(idtoken.Options{Issuer: cfg.OIDCIssuer, Audience: cfg.OIDCAudience, ClientID: cfg.OIDCClientID,
		JWKSURL: cfg.OIDCJWKSURL, PNRClaim: cfg.OIDCPNRClaim})
	if err != nil {
		return nil, nil, fmt.Errorf("DCC_OIDC_*: %w", err)
	}
	limiter, err := admission.New(admission.Config{Name: "citizen", Limit: cfg.CitizenConcurrency, Queue: cfg.CitizenQueue,
		Wait: cfg.CitizenWait, MaxRetryAfter: cfg.IssueRetryAfterMax})
	if err != nil {
		return nil, nil, fmt.Errorf("DCC_CITIZEN_*: %w", err)
	}
	// The session cookies are sealed with a key derived from the subject key (the web page
	// derives its own from it), so replicas sharing the data agree and nothing new is kept.
	c, err := httpapi.NewCitizens(httpapi.CitizenOptions{
		Verifier:  verifier,
		View:      view,
		Admission: limiter,
		Queue:     line,
		// Places per client address, so that one client cannot push everyone back.
		NewcomersPerAddress: httpapi.RateLimit{Rate: cfg.QueueAddressRate, Burst: cfg.QueueAddressBurst},
		CacheBytes:          int64(cfg.CitizenCacheBytes),
		Web: &httpapi.WebOptions{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, SessionKey: subjectKey,
			SessionTTL: cfg.SessionTTL, PublicURL: cfg.PublicURL},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("citizen routes: %w", err)
	}
	return c, limiter, nil
}
