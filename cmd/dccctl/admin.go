package main

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sedcc/dcc/cmd/internal/setup"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/store/postgres"
)

func registerAdminCommands(r registry) {
	r["provider"] = command{summary: "manage provider credentials: add, list, rotate, revoke, bind-cert, unbind-cert", run: providerCommand}
	r["support"] = command{summary: "manage support staff credentials: add", run: supportCommand}
	r["migrate"] = command{summary: "apply the store's schema migrations", run: migrateCommand}
	r["devsetup"] = command{summary: "prepare a development data directory and print a sandbox provider key", run: devsetupCommand}
}

// storeFlags adds the flags that choose the store, over the environment.
func storeFlags(fs *flag.FlagSet, e *env) (*setup.Config, error) {
	cfg, err := setup.FromEnv(e.getenv)
	if err != nil {
		return nil, err
	}
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "embedded store directory (DCC_DATA_DIR)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", cfg.DatabaseURL, "PostgreSQL URL (DATABASE_URL)")
	return &cfg, nil
}

func withStore(e *env, cfg *setup.Config, f func(*issuer.Credentials, issuer.Store) error) int {
	st, err := setup.OpenStore(e.ctx, *cfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "dccctl: %v\n", err)
		return exitFailure
	}
	defer st.Close()
	if err := f(issuer.NewCredentials(st, e.now, 0), st); err != nil {
		fmt.Fprintf(e.stderr, "dccctl: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func providerCommand(e *env, args []string) int {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprintln(e.stderr, "usage: dccctl provider add|list|rotate|revoke|bind-cert|unbind-cert [flags]  (dccctl provider add -h for a command's flags)")
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	fs := flag.NewFlagSet("provider "+args[0], flag.ContinueOnError)
	cfg, err := storeFlags(fs, e)
	if err != nil {
		fmt.Fprintf(e.stderr, "dccctl: configuration: %v\n", err)
		return exitUsage
	}
	switch args[0] {
	case "add":
		name := fs.String("name", "", "the provider organisation's name (unique)")
		envName := fs.String("env", "", "sandbox or production")
		kinds := fs.String("kinds", "", "comma-separated kinds it may issue: test,recovery,vaccination")
		certFile := fs.String("client-cert", "", "a PEM TLS client certificate that authenticates the provider too (see bind-cert)")
		if _, ok := parseFlags(fs, e, args[1:]); !ok {
			return exitUsage
		}
		var cert *x509.Certificate
		if *certFile != "" {
			var err error
			if cert, err = readCertFile(*certFile); err != nil {
				fmt.Fprintf(e.stderr, "dccctl: %v\n", err)
				return exitUsage
			}
		}
		var ks []issuer.Kind
		for _, k := range strings.Split(*kinds, ",") {
			if k = strings.TrimSpace(k); k != "" {
				ks = append(ks, issuer.Kind(k))
			}
		}
		return withStore(e, cfg, func(c *issuer.Credentials, _ issuer.Store) error {
			p, token, err := c.Add(e.ctx, issuer.NewPrincipal{Name: *name, Role: issuer.RoleProvider,
				Environment: issuer.Environment(*envName), Kinds: ks})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "provider %s (%s) created: environment %s, kinds %s\n", p.ID, p.Name, p.Environment, joinKinds(p.Kinds))
			if cert != nil {
				cc, err := c.BindCert(e.ctx, p.ID, cert)
				if err != nil {
					return fmt.Errorf("provider %s created, but its client certificate was not bound (bind it with provider bind-cert): %w", p.ID, err)
				}
				printBinding(e, cc)
			}
			fmt.Fprintln(e.stdout, "API key (shown once; store it safely, send it as 'Authorization: Bearer <key>'):")
			fmt.Fprintln(e.stdout, token)
			return nil
		})
	case "list":
		if _, ok := parseFlags(fs, e, args[1:]); !ok {
			return exitUsage
		}
		return withStore(e, cfg, func(_ *issuer.Credentials, st issuer.Store) error {
			ps, err := st.ListPrincipals(e.ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tENV\tKINDS\tKEY\tCREATED\tEXPIRES\tREVOKED")
			for _, p := range ps {
				keys, err := st.ListAPIKeys(e.ctx, p.ID)
				if err != nil {
					return err
				}
				certs, err := st.ListClientCerts(e.ctx, p.ID)
				if err != nil {
					return err
				}
				for _, cc := range certs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Name, p.Role, p.Environment, joinKinds(p.Kinds),
						"sha256:"+hex.EncodeToString(cc.Fingerprint), cc.CreatedAt.Format(time.RFC3339), cc.NotAfter.Format(time.RFC3339), timeOrDash(cc.RevokedAt))
				}
				if len(keys) == 0 && len(certs) == 0 {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t-\t-\t-\t-\n", p.ID, p.Name, p.Role, p.Environment, joinKinds(p.Kinds))
				}
				for _, k := range keys {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Name, p.Role, p.Environment, joinKinds(p.Kinds),
						k.ID, k.CreatedAt.Format(time.RFC3339), timeOrDash(k.ExpiresAt), timeOrDash(k.RevokedAt))
				}
			}
			return tw.Flush()
		})
	case "rotate":
		key := fs.String("key", "", "the id of the key to rotate (see provider list)")
		overlap := fs.Duration("overlap", 24*time.Hour, "how long the old key keeps working")
		if _, ok := parseFlags(fs, e, args[1:]); !ok {
			return exitUsage
		}
		return withStore(e, cfg, func(c *issuer.Credentials, _ issuer.Store) error {
			token, err := c.Rotate(e.ctx, *key, *overlap)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "key %s now expires at %s; new API key (shown once):\n", *key, e.now().Add(*overlap).UTC().Format(time.RFC3339))
			fmt.Fprintln(e.stdout, token)
			return nil
		})
	case "revoke":
		key := fs.String("key", "", "the id of the key to revoke (see provider list)")
		if _, ok := parseFlags(fs, e, args[1:]); !ok {
			return exitUsage
		}
		return withStore(e, cfg, func(c *issuer.Credentials, _ issuer.Store) error {
			if err := c.Revoke(e.ctx, *key); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "key %s revoked\n", *key)
			return nil
		})
	case "bind-cert":
		id := fs.String("provider", "", "the provider's id (see provider list)")
		certFile := fs.String("client-cert", "", "the PEM TLS client certificate to bind")
		if _, ok := parseFlags(fs, e, args[1:]); !ok {
			return exitUsage
		}
		cert, err := readCertFile(*certFile)
		if err != nil {
			fmt.Fprintf(e.stderr, "dccctl: %v\n", err)
			return exitUsage
		}
		return withStore(e, cfg, func(c *issuer.Credentials, _ issuer.Store) error {
			cc, err := c.BindCert(e.ctx, *id, cert)
			if err != nil {
				return err
			}
			printBinding(e, cc)
			return nil
		})
	case "unbind-cert":
		fp := fs.String("fingerprint", "", "the certificate's SHA-256 fingerprint, hex (see provider list)")
		if _, ok := parseFlags(fs, e, args[1:]); !ok {
			return exitUsage
		}
		sum, err := hex.DecodeString(strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(*fp), "sha256:"), ":", ""))
		if err != nil || len(sum) != sha256.Size {
			fmt.Fprintf(e.stderr, "dccctl: -fingerprint %q: want the 64 hex digits of a SHA-256 fingerprint\n", *fp)
			return exitUsage
		}
		return withStore(e, cfg, func(c *issuer.Credentials, _ issuer.Store) error {
			if err := c.RevokeCert(e.ctx, sum); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "client certificate sha256:%x unbound (running servers stop accepting it within DCC_KEY_CACHE_TTL)\n", sum)
			return nil
		})
	}
	fmt.Fprintf(e.stderr, "dccctl: unknown provider command %q (add, list, rotate, revoke, bind-cert, unbind-cert)\n", args[0])
	return exitUsage
}

func supportCommand(e *env, args []string) int {
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(e.stderr, "usage: dccctl support add --name N [--admin]")
		if len(args) > 0 && isHelp(args[0]) {
			return exitOK
		}
		return exitUsage
	}
	fs := flag.NewFlagSet("support add", flag.ContinueOnError)
	cfg, err := storeFlags(fs, e)
	if err != nil {
		fmt.Fprintf(e.stderr, "dccctl: configuration: %v\n", err)
		return exitUsage
	}
	name := fs.String("name", "", "the staff member's name (unique)")
	admin := fs.Bool("admin", false, "support administrator (may revoke any certificate)")
	if _, ok := parseFlags(fs, e, args[1:]); !ok {
		return exitUsage
	}
	role := issuer.RoleSupport
	if *admin {
		role = issuer.RoleSupportAdmin
	}
	return withStore(e, cfg, func(c *issuer.Credentials, _ issuer.Store) error {
		p, token, err := c.Add(e.ctx, issuer.NewPrincipal{Name: *name, Role: role})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s %s (%s) created\n", p.Role, p.ID, p.Name)
		fmt.Fprintln(e.stdout, "API key (shown once):")
		fmt.Fprintln(e.stdout, token)
		return nil
	})
}

func migrateCommand(e *env, args []string) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	cfg, err := storeFlags(fs, e)
	if err != nil {
		fmt.Fprintf(e.stderr, "dccctl: configuration: %v\n", err)
		return exitUsage
	}
	if _, ok := parseFlags(fs, e, args); !ok {
		return exitUsage
	}
	if cfg.DatabaseURL != "" {
		if err := postgres.Migrate(e.ctx, cfg.DatabaseURL); err != nil {
			fmt.Fprintf(e.stderr, "dccctl: migrate: %v\n", err)
			return exitFailure
		}
		v, _ := postgres.SchemaVersion()
		fmt.Fprintf(e.stdout, "PostgreSQL schema at version %d\n", v)
		return exitOK
	}
	// The embedded store migrates itself when opened.
	return withStore(e, cfg, func(*issuer.Credentials, issuer.Store) error {
		fmt.Fprintf(e.stdout, "embedded store in %s is up to date\n", cfg.DataDir)
		return nil
	})
}

// devsetupName is the sandbox provider devsetup creates for development runs.
const devsetupName = "development"

// devsetupCommand prepares a development data directory (store, keys, subject key) and prints a
// fresh key of the "development" sandbox provider as its last line. make run calls it.
func devsetupCommand(e *env, args []string) int {
	fs := flag.NewFlagSet("devsetup", flag.ContinueOnError)
	cfg, err := storeFlags(fs, e)
	if err != nil {
		fmt.Fprintf(e.stderr, "dccctl: configuration: %v\n", err)
		return exitUsage
	}
	if _, ok := parseFlags(fs, e, args); !ok {
		return exitUsage
	}
	_, tokens, err := setup.Signers(e.ctx, *cfg, slog.New(slog.NewTextHandler(e.stderr, nil)))
	if err != nil {
		fmt.Fprintf(e.stderr, "dccctl: %v\n", err)
		return exitFailure
	}
	_ = tokens.Close()
	if _, err := setup.SubjectKey(*cfg); err != nil {
		fmt.Fprintf(e.stderr, "dccctl: %v\n", err)
		return exitFailure
	}
	return withStore(e, cfg, func(c *issuer.Credentials, st issuer.Store) error {
		var token string
		p, err := st.PrincipalByName(e.ctx, devsetupName)
		switch {
		case errors.Is(err, issuer.ErrNotFound):
			p, token, err = c.Add(e.ctx, issuer.NewPrincipal{Name: devsetupName, Role: issuer.RoleProvider, Environment: issuer.Sandbox,
				Kinds: []issuer.Kind{issuer.KindTest, issuer.KindRecovery, issuer.KindVaccination}})
		case err == nil:
			token, err = c.NewKey(e.ctx, p.ID)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "development data directory: %s\n", cfg.DataDir)
		fmt.Fprintf(e.stdout, "sandbox provider %q (%s) may issue %s; its API key:\n", p.Name, p.ID, joinKinds(p.Kinds))
		fmt.Fprintln(e.stdout, token)
		return nil
	})
}

func joinKinds(ks []issuer.Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ",")
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "help" }

// readCertFile reads the first certificate of a PEM file.
func readCertFile(name string) (*x509.Certificate, error) {
	if name == "" {
		return nil, errors.New("-client-cert: a PEM certificate file is required")
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("client certificate %s: no PEM CERTIFICATE block", name)
		}
		if blk.Type == "CERTIFICATE" {
			cert, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("client certificate %s: %w", name, err)
			}
			return cert, nil
		}
	}
}

func printBinding(e *env, cc issuer.ClientCert) {
	fmt.Fprintf(e.stdout, "client certificate sha256:%x (%s, valid until %s) bound to %s; it authenticates without an API key over TLS\n",
		cc.Fingerprint, cc.Subject, cc.NotAfter.Format(time.RFC3339), cc.PrincipalID)
}
