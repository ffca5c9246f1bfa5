// Command dccregister serves a stand-in population register: the register's HTTP contract
// (docs/register-api.md) over the built-in development population or a population file, with
// faults (latency, errors, hanging requests, outage, forced "not found") switched at run time
// over its admin endpoint.
//
//	dccregister [--listen 127.0.0.1:8090] [--population FILE] [--token T] [--admin-token T]
//	            [--faults JSON] [--list]
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
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sedcc/dcc/registry/fileregister"
	"github.com/sedcc/dcc/registry/standin"
)

// Environment variables, each the default of the flag named beside it.
const (
	envListen     = "DCC_STANDIN_LISTEN"      // --listen
	envPopulation = "DCC_REGISTER_FILE"       // --population
	envToken      = "DCC_REGISTER_TOKEN"      // --token
	envAdminToken = "DCC_STANDIN_ADMIN_TOKEN" // --admin-token
	envFaults     = "DCC_STANDIN_FAULTS"      // --faults
)

const shutdownGrace = 10 * time.Second

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dccregister:", err)
		os.Exit(1)
	}
}

type config struct {
	listen     string
	population string
	token      string
	adminToken string
	faults     string
	list       bool
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	def := func(name, fallback string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return fallback
	}
	var c config
	fs := flag.NewFlagSet("dccregister", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", def(envListen, "127.0.0.1:8090"), "address to serve on ("+envListen+")")
	fs.StringVar(&c.population, "population", getenv(envPopulation), "population file, JSON; empty for the built-in development population ("+envPopulation+")")
	fs.StringVar(&c.token, "token", getenv(envToken), "bearer token look-ups must carry; empty for none ("+envToken+")")
	fs.StringVar(&c.adminToken, "admin-token", getenv(envAdminToken), "bearer token for /admin/*; empty leaves it open, loopback only ("+envAdminToken+")")
	fs.StringVar(&c.faults, "faults", getenv(envFaults), `faults at start, as for POST /admin/faults, e.g. '{"latency":"200ms"}' (`+envFaults+")")
	fs.BoolVar(&c.list, "list", false, "print the population's numbers and names, then exit")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if _, _, err := net.SplitHostPort(c.listen); err != nil {
		return config{}, fmt.Errorf("--listen (%s): %w", envListen, err)
	}
	return c, nil
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	reg, err := fileregister.Open(c.population, time.Now())
	if err != nil {
		return fmt.Errorf("--population (%s): %w", envPopulation, err)
	}
	if c.list {
		return list(stdout, reg)
	}
	var faults standin.Faults
	if c.faults != "" {
		if err := faults.UnmarshalJSON([]byte(c.faults)); err != nil {
			return fmt.Errorf("--faults (%s): %w", envFaults, err)
		}
	}
	s, err := standin.New(standin.Options{
		Register:   reg,
		Token:      c.token,
		AdminToken: c.adminToken,
		Logger:     log,
	})
	if err != nil {
		return err
	}
	if err := s.SetFaults(faults); err != nil {
		return fmt.Errorf("--faults (%s): %w", envFaults, err)
	}

	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("--listen (%s): %w", envListen, err)
	}
	if c.adminToken == "" && !loopback(ln.Addr()) {
		log.Warn("admin endpoint is open on a non-loopback address; set --admin-token", "addr", ln.Addr().String())
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("stand-in population register serving", "addr", "http://"+ln.Addr().String(),
		"population", reg.State().Detail, "lookup_token", c.token != "", "admin_token", c.adminToken != "")

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	s.Close() // releases requests held by faults
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func loopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// list prints the population for choosing numbers in development; the data is fictional.
func list(w io.Writer, reg *fileregister.Register) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NUMBER\tKIND\tNAME\tBORN\tFLAGS")
	for _, r := range reg.Residents() {
		var flags []string
		if r.Person.Protected {
			flags = append(flags, "protected")
		}
		if r.Person.Deceased {
			flags = append(flags, "deceased")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\n", r.Number.Digits(), r.Number.Kind(),
			r.Person.GivenName, r.Person.FamilyName, r.Person.BirthDate, strings.Join(flags, ","))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print population: %w", err)
	}
	return nil
}
