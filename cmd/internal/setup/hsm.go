package setup

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/pkcs11"
	"github.com/sedcc/dcc/signing/rotation"
)

// HSM is the PKCS #11 signing configuration of one environment (DCC_<ENV>_PKCS11_*). When
// Module is set, the environment signs in the token and its key files are not used.
type HSM struct {
	Module  string // DCC_<ENV>_PKCS11_MODULE: path of the PKCS #11 library
	Token   string // DCC_<ENV>_PKCS11_TOKEN: token label
	PINFile string // DCC_<ENV>_PKCS11_PIN_FILE: file holding the user PIN
	// Keys is DCC_<ENV>_PKCS11_KEY: the label of the signing key, or a rotation schedule
	// "old,new@2026-12-01T00:00:00Z" (each later key with the time it takes over).
	Keys []KeyStage
	// CSCAFile is DCC_<ENV>_CSCA_FILE: the national CSCA certificate(s), PEM. Every DSC must
	// chain to one of them before it is used.
	CSCAFile string
}

// KeyStage is one key of a rotation schedule: its label in the token and when it starts to sign
// (zero for the first).
type KeyStage struct {
	Label string
	From  time.Time
}

// ParseKeySchedule reads "label" or "label1,label2@RFC3339,...".
func ParseKeySchedule(v string) ([]KeyStage, error) {
	var out []KeyStage
	for i, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		label, at, timed := strings.Cut(part, "@")
		if label == "" {
			return nil, fmt.Errorf("%q: an empty key label", v)
		}
		st := KeyStage{Label: label}
		switch {
		case timed:
			t, err := time.Parse(time.RFC3339, at)
			if err != nil {
				return nil, fmt.Errorf("%q: %q is not an RFC 3339 time such as 2026-12-01T00:00:00Z", v, at)
			}
			if i == 0 {
				return nil, fmt.Errorf("%q: the first key signs from the start and takes no time", v)
			}
			st.From = t
		case i > 0:
			return nil, fmt.Errorf("%q: key %q needs the time it takes over (label@2026-12-01T00:00:00Z)", v, label)
		}
		if i > 1 && !st.From.After(out[i-1].From) {
			return nil, fmt.Errorf("%q: the keys' times must increase", v)
		}
		out = append(out, st)
	}
	return out, nil
}

func (h HSM) configured() bool { return h.Module != "" }

// hsmFromEnv reads DCC_<ENV>_PKCS11_* and DCC_<ENV>_CSCA_FILE for the two environments.
func hsmFromEnv(getenv func(string) string, c *Config) []error {
	var errs []error
	for _, e := range []struct {
		prefix string
		dst    *HSM
	}{{"DCC_PRODUCTION_", &c.ProductionHSM}, {"DCC_SANDBOX_", &c.SandboxHSM}} {
		e.dst.Module = getenv(e.prefix + "PKCS11_MODULE")
		e.dst.Token = getenv(e.prefix + "PKCS11_TOKEN")
		e.dst.PINFile = getenv(e.prefix + "PKCS11_PIN_FILE")
		e.dst.CSCAFile = getenv(e.prefix + "CSCA_FILE")
		if v := getenv(e.prefix + "PKCS11_KEY"); v != "" {
			ks, err := ParseKeySchedule(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%sPKCS11_KEY=%w", e.prefix, err))
			}
			e.dst.Keys = ks
		}
	}
	if v := getenv("DCC_PKCS11_SESSIONS"); v != "" {
		var n int
		if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("DCC_PKCS11_SESSIONS=%q: want a whole number of at least 1", v))
		} else {
			c.PKCS11Sessions = n
		}
	}
	return errs
}

// validateHSM checks that a configured token has everything it needs.
func (c Config) validateHSM() []error {
	var errs []error
	for prefix, h := range map[string]HSM{"DCC_PRODUCTION_": c.ProductionHSM, "DCC_SANDBOX_": c.SandboxHSM} {
		if !h.configured() {
			if h.Token != "" || h.PINFile != "" || len(h.Keys) > 0 {
				errs = append(errs, fmt.Errorf("%sPKCS11_MODULE must be set with %sPKCS11_TOKEN, _PIN_FILE and _KEY", prefix, prefix))
			}
			continue
		}
		for name, v := range map[string]bool{"PKCS11_TOKEN": h.Token != "", "PKCS11_PIN_FILE": h.PINFile != "",
			"PKCS11_KEY": len(h.Keys) > 0, "CSCA_FILE": h.CSCAFile != ""} {
			if !v {
				errs = append(errs, fmt.Errorf("%s%s must be set when %sPKCS11_MODULE is", prefix, name, prefix))
			}
		}
	}
	return errs
}

// ReadPIN reads a PIN file: its first line, without surrounding spaces.
func ReadPIN(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read PIN file: %w", err)
	}
	pin, _, _ := strings.Cut(string(raw), "\n")
	pin = strings.TrimSpace(pin)
	if pin == "" {
		return "", fmt.Errorf("PIN file %s is empty", path)
	}
	return pin, nil
}

// LoadCSCAs reads the CSCA certificates of a PEM file.
func LoadCSCAs(path string) ([]*x509.Certificate, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CSCA file: %w", err)
	}
	certs, err := keys.ParseCertificates(raw)
	if err != nil {
		return nil, fmt.Errorf("CSCA file %s: %w", path, err)
	}
	return certs, nil
}

// Tokens keeps one connection per (module, token), shared by the environments that use it, and
// closes them at the end.
type Tokens struct {
	open     map[string]*pkcs11.Token
	sessions int
	clock    func() time.Time
	log      *slog.Logger
}

// NewTokens returns an empty set of token connections.
func NewTokens(c Config, clock func() time.Time, log *slog.Logger) *Tokens {
	return &Tokens{open: map[string]*pkcs11.Token{}, sessions: c.PKCS11Sessions, clock: clock, log: log}
}

// Open connects to the token of h, or returns the connection already made.
func (ts *Tokens) Open(h HSM) (*pkcs11.Token, error) {
	id := h.Module + "\x00" + h.Token
	if t, ok := ts.open[id]; ok {
		return t, nil
	}
	pin, err := ReadPIN(h.PINFile)
	if err != nil {
		return nil, err
	}
	t, err := pkcs11.Open(pkcs11.Config{Module: h.Module, Token: h.Token, PIN: pin, Sessions: ts.sessions,
		Clock: ts.clock, Log: ts.log})
	if err != nil {
		return nil, err
	}
	ts.open[id] = t
	return t, nil
}

// Close closes every token connection.
func (ts *Tokens) Close() error {
	var errs []error
	for _, t := range ts.open {
		errs = append(errs, t.Close())
	}
	return errors.Join(errs...)
}

// HSMSchedule loads the keys of h from its token: for each stage the DSC stored beside the key,
// checked against the CSCA and the token's public key; stages already superseded at now keep
// only their DSC (their key may be retired). The result signs in the token.
func HSMSchedule(ctx context.Context, ts *Tokens, h HSM, env issuer.Environment, clock func() time.Time) (*rotation.Schedule, error) {
	tok, err := ts.Open(h)
	if err != nil {
		return nil, err
	}
	cscas, err := LoadCSCAs(h.CSCAFile)
	if err != nil {
		return nil, err
	}
	now := clock()
	stages := make([]rotation.Stage, 0, len(h.Keys))
	for i, ks := range h.Keys {
		dsc, err := tok.Certificate(ctx, ks.Label)
		if err != nil {
			return nil, fmt.Errorf("%s key %q: DSC: %w (import it with dccctl hsm import)", env, ks.Label, err)
		}
		st := rotation.Stage{From: ks.From, DSC: dsc}
		superseded := i+1 < len(h.Keys) && !h.Keys[i+1].From.After(now)
		if !superseded {
			key, err := tok.Key(ctx, ks.Label)
			if err != nil {
				return nil, fmt.Errorf("%s key %q: %w", env, ks.Label, err)
			}
			// A staged key is checked at the time it takes over, so that a DSC valid from then is
			// accepted now.
			at := now
			if ks.From.After(now) {
				at = ks.From
			}
			if err := keys.CheckDSC(dsc, cscas, key.Public(), at); err != nil {
				return nil, fmt.Errorf("%s key %q: %w", env, ks.Label, err)
			}
			if st.Signer, err = hcert.NewSigner(key, dsc); err != nil {
				return nil, fmt.Errorf("%s key %q: %w", env, ks.Label, err)
			}
		}
		stages = append(stages, st)
	}
	return rotation.New(clock, stages...)
}
