// Command dccidp serves a stand-in OpenID Connect identity provider for development: discovery,
// JWKS, a login form on which a person of the development population (or a population file) is
// chosen instead of an e-ID, the authorization code flow with PKCE, key rotation and faults
// switched at run time (issuer/idp).
//
//	dccidp [--listen 127.0.0.1:8091] [--issuer URL] [--client-id dcc-web] [--audience dcc-citizen]
//	       [--pnr-claim CLAIM] [--population FILE] [--token-ttl 15m] [--rotate-every 0]
//
// Every flag has an environment variable; the flag wins when both are given.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sedcc/dcc/issuer/idp"
	"github.com/sedcc/dcc/registry/fileregister"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dccidp:", err)
		os.Exit(1)
	}
}

type config struct {
	listen, issuer, clientID, audience, pnrClaim, population string
	tokenTTL, rotateEvery                                    time.Duration
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	def := func(name, fallback string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return fallback
	}
	var c config
	fs := flag.NewFlagSet("dccidp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", def("DCC_IDP_LISTEN", "127.0.0.1:8091"), "address to serve on (DCC_IDP_LISTEN)")
	fs.StringVar(&c.issuer, "issuer", getenv("DCC_OIDC_ISSUER"), "issuer URL (DCC_OIDC_ISSUER); empty: http://<listen>")
	fs.StringVar(&c.clientID, "client-id", def("DCC_OIDC_CLIENT_ID", idp.DefaultClientID), "the web page's client id (DCC_OIDC_CLIENT_ID)")
	fs.StringVar(&c.audience, "audience", def("DCC_OIDC_AUDIENCE", idp.DefaultAudience), "access tokens' audience (DCC_OIDC_AUDIENCE)")
	fs.StringVar(&c.pnrClaim, "pnr-claim", def("DCC_OIDC_PNR_CLAIM", idp.DefaultPNRClaim), "claim carrying the personnummer (DCC_OIDC_PNR_CLAIM)")
	fs.StringVar(&c.population, "population", getenv("DCC_REGISTER_FILE"), "population file; empty for the built-in development population (DCC_REGISTER_FILE)")
	fs.DurationVar(&c.tokenTTL, "token-ttl", idp.DefaultTokenTTL, "token lifetime")
	fs.DurationVar(&c.rotateEvery, "rotate-every", 0, "rotate the signing key this often; 0: only on POST /admin/rotate")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.issuer == "" {
		c.issuer = "http://" + c.listen
	}
	if c.tokenTTL <= 0 {
		return config{}, errors.New("--token-ttl must be positive")
	}
	return c, nil
}

func run(args []string, getenv func(string) string, stderr io.Writer) error {
	c, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return serve(ctx, c, log, nil)
}

// serve runs the provider until ctx ends; ready, when not nil, receives the address.
func serve(ctx context.Context, c config, log *slog.Logger, ready chan<- string) error {
	var people []fileregister.Resident
	if c.population != "" {
		reg, err := fileregister.Open(c.population, time.Now())
		if err != nil {
			return fmt.Errorf("population: %w", err)
		}
		people = reg.Residents()
	}
	p, err := idp.New(idp.Options{Issuer: c.issuer, People: people, ClientID: c.clientID, Audience: c.audience,
		PNRClaim: c.pnrClaim, TokenTTL: c.tokenTTL, Log: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.listen, err)
	}
	hs := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	log.Info("dccidp serving", "addr", ln.Addr().String(), "issuer", c.issuer, "client_id", c.clientID, "audience", c.audience)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	if c.rotateEvery > 0 {
		go func() {
			t := time.NewTicker(c.rotateEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if _, err := p.Rotate(); err != nil {
						log.Error("rotate", "err", err)
					}
				}
			}
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
