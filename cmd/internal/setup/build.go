package setup

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sedcc/dcc/fhir"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/policy"
	"github.com/sedcc/dcc/issuer/requestid"
	"github.com/sedcc/dcc/issuer/store/embedded"
	"github.com/sedcc/dcc/issuer/store/postgres"
	"github.com/sedcc/dcc/registry"
	"github.com/sedcc/dcc/registry/fileregister"
	"github.com/sedcc/dcc/registry/httpregister"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/rotation"
	"github.com/sedcc/dcc/signing/uvci"
	"github.com/sedcc/dcc/signing/valueset"
)

// Logger builds the process logger: JSON or text on w at the configured level.
func Logger(c Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(requestid.Handler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(requestid.Handler(slog.NewTextHandler(w, opts)))
}

// OpenStore opens PostgreSQL when DATABASE_URL is set, applying migrations first, and the
// embedded store in the data directory otherwise. An unreachable database is an error: for the
// administration commands, which an operator runs and watches.
func OpenStore(ctx context.Context, c Config) (issuer.Store, error) {
	return openStore(ctx, c, nil)
}

// StartStore is OpenStore for the server: PostgreSQL that does not answer at start is not an
// error. The store is returned at once; it answers ErrStoreUnavailable (503, readiness failing)
// until a background loop, ended by ctx, has reached the database and applied the migrations.
func StartStore(ctx context.Context, c Config, log *slog.Logger) (issuer.Store, error) {
	return openStore(ctx, c, log)
}

func openStore(ctx context.Context, c Config, log *slog.Logger) (issuer.Store, error) {
	if c.DatabaseURL != "" && log != nil {
		st, err := postgres.Start(ctx, c.DatabaseURL, postgres.StartOptions{
			Options: postgres.Options{Timeout: c.StoreTimeout}, Log: log.With("component", "store")})
		if err != nil {
			return nil, fmt.Errorf("DATABASE_URL: %w", err)
		}
		return st, nil
	}
	if c.DatabaseURL != "" {
		if err := postgres.Migrate(ctx, c.DatabaseURL); err != nil {
			return nil, fmt.Errorf("migrate PostgreSQL: %w", err)
		}
		st, err := postgres.Open(ctx, c.DatabaseURL, postgres.Options{Timeout: c.StoreTimeout})
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL: %w", err)
		}
		return st, nil
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create DCC_DATA_DIR %s: %w", c.DataDir, err)
	}
	st, err := embedded.Open(c.DataDir)
	if err != nil {
		return nil, fmt.Errorf("open embedded store in %s: %w", c.DataDir, err)
	}
	return st, nil
}

// Signers loads the signing keys of each environment: from a PKCS #11 token when
// DCC_<ENV>_PKCS11_MODULE is set (with its rotation schedule, every DSC checked against the CSCA),
// from key files when they are configured, or a development key created under
// DataDir/keys/<environment>. The token connections are closed with the returned Tokens.
func Signers(ctx context.Context, c Config, log *slog.Logger) (map[issuer.Environment]*rotation.Schedule, *Tokens, error) {
	out := map[issuer.Environment]*rotation.Schedule{}
	tokens := NewTokens(c, time.Now, log)
	for _, env := range []issuer.Environment{issuer.Production, issuer.Sandbox} {
		keyFile, certFile, hsm := c.ProductionKeyFile, c.ProductionCertFile, c.ProductionHSM
		if env == issuer.Sandbox {
			keyFile, certFile, hsm = c.SandboxKeyFile, c.SandboxCertFile, c.SandboxHSM
		}
		if hsm.configured() {
			sched, err := HSMSchedule(ctx, tokens, hsm, env, time.Now)
			if err != nil {
				_ = tokens.Close()
				return nil, nil, fmt.Errorf("%s signing key in token %q: %w", env, hsm.Token, err)
			}
			out[env] = sched
			continue
		}
		var (
			k    crypto.Signer
			cert *x509.Certificate
			err  error
		)
		if keyFile != "" {
			if k, cert, err = keys.Load(keyFile, certFile); err != nil {
				err = fmt.Errorf("%s signing key: %w", env, err)
			}
		} else {
			dir := DevelopmentKeyDir(c.DataDir, env)
			if k, cert, err = keys.LoadOrCreate(dir, keys.Options{Country: c.Country, Organization: c.IssuerName,
				CommonName: fmt.Sprintf("DCC %s development DSC", env)}); err != nil {
				err = fmt.Errorf("%s development signing key in %s: %w", env, dir, err)
			}
		}
		if err == nil && hsm.CSCAFile != "" {
			var cscas []*x509.Certificate
			if cscas, err = LoadCSCAs(hsm.CSCAFile); err == nil {
				if err = keys.CheckDSC(cert, cscas, k.Public(), time.Now()); err != nil {
					err = fmt.Errorf("%s DSC: %w", env, err)
				}
			}
		}
		var sign *hcert.Signer
		if err == nil {
			if sign, err = hcert.NewSigner(k, cert); err != nil {
				err = fmt.Errorf("%s signer: %w", env, err)
			}
		}
		if err != nil {
			_ = tokens.Close()
			return nil, nil, err
		}
		out[env] = rotation.Single(sign)
	}
	return out, tokens, nil
}

// DevelopmentKeyDir is where a development signing key and DSC of an environment live, created
// by the first start when no key files are configured.
func DevelopmentKeyDir(dataDir string, env issuer.Environment) string {
	return filepath.Join(dataDir, "keys", string(env))
}

// SubjectKey reads the secret keying personnummer hashes, creating it in the data directory for
// development when no file is configured.
func SubjectKey(c Config) ([]byte, error) {
	path := c.SubjectKeyFile
	if path == "" {
		path = filepath.Join(c.DataDir, "subject.key")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
				return nil, fmt.Errorf("create DCC_DATA_DIR: %w", err)
			}
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return nil, fmt.Errorf("random subject key: %w", err)
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err == nil {
				_, err = f.WriteString(hex.EncodeToString(b) + "\n")
				if cErr := f.Close(); err == nil {
					err = cErr
				}
			}
			if err != nil && !errors.Is(err, fs.ErrExist) {
				return nil, fmt.Errorf("write subject key %s: %w", path, err)
			}
		}
	}
	if err := keys.CheckPrivate(path); err != nil {
		return nil, fmt.Errorf("subject key: %w", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read subject key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("subject key %s: want at least 32 bytes as hex", path)
	}
	return key, nil
}

// Register builds the HTTP register client when DCC_REGISTER_URL is set, the file-backed
// register otherwise.
func Register(c Config, log *slog.Logger, onState func(from, to string)) (registry.Register, error) {
	if c.RegisterURL != "" {
		o := c.Register
		o.URL, o.Logger, o.OnStateChange = c.RegisterURL, log, onState
		cl, err := httpregister.New(o)
		if err != nil {
			return nil, fmt.Errorf("DCC_REGISTER_URL: %w", err)
		}
		return cl, nil
	}
	r, err := fileregister.Open(c.RegisterFile, time.Now())
	if err != nil {
		return nil, fmt.Errorf("DCC_REGISTER_FILE: %w", err)
	}
	return r, nil
}

// SandboxRegister builds the register that resolves sandbox requests: DCC_SANDBOX_REGISTER_URL
// (an HTTP register of test persons, with the DCC_REGISTER_* timings), DCC_SANDBOX_REGISTER_FILE,
// or the built-in development population. It is never the population register.
func SandboxRegister(c Config, log *slog.Logger) (registry.Register, error) {
	if c.SandboxRegisterURL != "" {
		o := c.Register
		if c.RegisterURL == "" {
			o = httpregister.Options{}
		}
		o.URL, o.Token, o.Logger = c.SandboxRegisterURL, c.SandboxRegisterToken, log.With("register", "sandbox")
		o.OnStateChange = nil
		cl, err := httpregister.New(o)
		if err != nil {
			return nil, fmt.Errorf("DCC_SANDBOX_REGISTER_URL: %w", err)
		}
		return cl, nil
	}
	r, err := fileregister.Open(c.SandboxRegisterFile, time.Now())
	if err != nil {
		return nil, fmt.Errorf("DCC_SANDBOX_REGISTER_FILE: %w", err)
	}
	return r, nil
}

// Issuer wires the issuance service. Audit searches go to audit, the read pool where there is one
// (OpenReads), so that support staff's searches do not compete with issuance on the primary; nil
// means st.
func Issuer(c Config, st issuer.Store, audit issuer.AuditReader, signers map[issuer.Environment]*rotation.Schedule, reg, sandboxReg registry.Register,
	subjectKey []byte, values *valueset.Catalogue, log *slog.Logger, clock func() time.Time, metrics issuer.Metrics) (*issuer.Service, error) {
	ss := map[issuer.Environment]issuer.Signer{}
	for env, s := range signers {
		ss[env] = issuer.HCertSigner{Keys: s, Country: c.Country, Clock: clock}
	}
	// One policy value for the check (parser) and the certificate's dates (issuer).
	pol, err := policy.New(policy.Issuance{})
	if err != nil {
		return nil, err
	}
	if audit == nil {
		audit = st
	}
	parser := fhir.NewParser(fhir.Options{Now: clock, MaxTestAge: c.MaxTestAge, ClockSkew: c.ClockSkew, Values: values, Policy: pol})
	return issuer.New(issuer.Options{
		Config: issuer.Config{
			Policy:              pol,
			Country:             c.Country,
			IssuerName:          c.IssuerName,
			TestValidity:        c.TestValidity,
			RecoveryValidity:    c.RecValidity,
			VaccinationValidity: c.VacValidity,
			TestIdentities:      c.TestIdentities,
			CitizenService:      c.CitizenService,
			CitizenSandbox:      c.CitizenSandbox,
		},
		Store:           st,
		Audit:           audit,
		Signers:         ss,
		UVCIs:           uvci.Generator{Country: c.Country, Prefix: c.UVCIPrefix},
		Register:        reg,
		SandboxRegister: sandboxReg,
		Parser:          parser,
		Values:          values,
		SubjectKey:      subjectKey,
		Clock:           clock,
		Log:             log,
		Metrics:         metrics,
		NewID:           NewEventID,
	})
}

// Revocations builds revocation, the published lists and verification over the same signers.
func Revocations(c Config, st issuer.RevocationStore, signers map[issuer.Environment]*rotation.Schedule, values *valueset.Catalogue,
	log *slog.Logger, clock func() time.Time) (*issuer.Revocations, error) {
	ss := map[issuer.Environment]issuer.Signer{}
	for env, s := range signers {
		ss[env] = issuer.HCertSigner{Keys: s, Country: c.Country, Clock: clock}
	}
	return issuer.NewRevocations(issuer.RevocationsOptions{
		Store: st, Signers: ss, Country: c.Country, Values: values, Clock: clock, Log: log, NewID: NewEventID,
	})
}

// NewEventID returns a time-ordered unique id (UUIDv7) for audit events.
func NewEventID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// NewV7 fails only when the system's random source does; a v4 id is still unique.
		return uuid.NewString()
	}
	return id.String()
}
