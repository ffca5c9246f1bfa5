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
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sedcc/dcc/cmd/internal/setup"
	"github.com/sedcc/dcc/docs"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/admission"
	"github.com/sedcc/dcc/issuer/httpapi"
	"github.com/sedcc/dcc/issuer/metrics"
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
	st := m.InstrumentStore(raw)
	signers, err := setup.Signers(cfg)
	if err != nil {
		return err
	}
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
	if err := m.WatchLimiters(limiter); err != nil {
		return err
	}
	values, err := valueset.Load()
	if err != nil {
		return err
	}
	svc, err := setup.Issuer(cfg, st, signers, reg, sandboxReg, subjectKey, values, log, time.Now, m)
	if err != nil {
		return err
	}
	// The monitor stops before the store closes (defers run last in, first out).
	monitor, err := statusMonitor(cfg, st, svc, reg, log)
	if err != nil {
		return err
	}
	// Background work (the status monitor, the request-id retention) stops before the store
	// closes: defers run last in, first out.
	bgCtx, stopBackground := context.WithCancel(ctx)
	var background sync.WaitGroup
	background.Go(func() { monitor.Run(bgCtx) })
	background.Go(func() { svc.RunRetention(bgCtx, time.Hour, cfg.RequestRetention) })
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
	}
	register := "file"
	if cfg.RegisterURL != "" {
		register = cfg.RegisterURL
	}
	for env, s := range signers {
		log.Info("signing key", "environment", env, "kid", fmt.Sprintf("%x", s.KID()))
	}
	log.Info("dccd serving", "addr", ln.Addr().String(), "tls", tlsConf != nil, "client_certificates", cfg.TLSClientCAFile != "", "store", store, "register", register, "version", version)
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
// fallback keeps issuance going), for /status. Signing is read from the issuer, which readiness
// and issuance read too; the register is probed, so its light does not wait for a failing request.
func statusMonitor(cfg setup.Config, st issuer.Store, svc *issuer.Service,
	reg registry.Register, log *slog.Logger) (*status.Monitor, error) {
	deps := []status.Dependency{
		{Name: status.DependencyStore, Title: "Certificate store", Probe: status.StoreProbe(st), Critical: true},
		{Name: status.DependencySigning, Title: "Signing", Probe: status.SigningProbe(svc, time.Now, 0), Critical: true},
	}
	if r, ok := reg.(registry.Reporter); ok {
		deps = append(deps, status.Dependency{Name: status.DependencyRegister, Title: "Population register", Probe: status.RegisterProbe(r)})
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
