package main

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sedcc/dcc/cmd/internal/setup"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/pkcs11"
)

func registerHSMCommands(r registry) {
	r["hsm"] = command{summary: "key ceremony in a PKCS#11 token: keygen, import, list, retire, check", run: hsmCommand}
}

const hsmUsage = `usage: dccctl hsm <keygen|import|list|retire|check> --env production|sandbox [flags]

  keygen --label L [--csr FILE] [--country SE] [--org NAME] [--cn NAME]
         generate a P-256 key pair inside the token and write a CSR for the CSCA
  import --label L --cert FILE
         check that the DSC chains to the CSCA and carries the token's key, then store it
  list   the token's keys and DSCs
  retire --label L [--force]
         destroy a key pair (its DSC stays, for verification until it expires)
  check  the check dccd makes at start: every configured key, its DSC and the CSCA

The token comes from DCC_<ENV>_PKCS11_MODULE, _TOKEN, _PIN_FILE and the CSCA from
DCC_<ENV>_CSCA_FILE; --module, --token, --pin-file and --csca override them.`

// hsmOptions are the flags every hsm subcommand takes.
type hsmOptions struct {
	env *string
	hsm setup.HSM
	cfg setup.Config
	fs  *flag.FlagSet
}

func newHSMFlags(e *env, name string) (*hsmOptions, error) {
	cfg, err := setup.FromEnv(e.getenv)
	if err != nil {
		return nil, err
	}
	fs := flag.NewFlagSet("hsm "+name, flag.ContinueOnError)
	o := &hsmOptions{cfg: cfg, fs: fs}
	o.env = fs.String("env", "", "environment whose token to use: production or sandbox")
	fs.StringVar(&o.hsm.Module, "module", "", "PKCS#11 library (DCC_<ENV>_PKCS11_MODULE)")
	fs.StringVar(&o.hsm.Token, "token", "", "token label (DCC_<ENV>_PKCS11_TOKEN)")
	fs.StringVar(&o.hsm.PINFile, "pin-file", "", "file holding the user PIN (DCC_<ENV>_PKCS11_PIN_FILE)")
	fs.StringVar(&o.hsm.CSCAFile, "csca", "", "CSCA certificate(s), PEM (DCC_<ENV>_CSCA_FILE)")
	fs.Usage = func() { fmt.Fprintln(e.stderr, hsmUsage) }
	return o, nil
}

// resolve merges the flags over the environment's configuration.
func (o *hsmOptions) resolve() (setup.HSM, error) {
	var base setup.HSM
	switch *o.env {
	case string(issuer.Production):
		base = o.cfg.ProductionHSM
	case string(issuer.Sandbox):
		base = o.cfg.SandboxHSM
	default:
		return setup.HSM{}, fmt.Errorf("--env %q: want production or sandbox", *o.env)
	}
	if o.hsm.Module != "" {
		base.Module = o.hsm.Module
	}
	if o.hsm.Token != "" {
		base.Token = o.hsm.Token
	}
	if o.hsm.PINFile != "" {
		base.PINFile = o.hsm.PINFile
	}
	if o.hsm.CSCAFile != "" {
		base.CSCAFile = o.hsm.CSCAFile
	}
	env := strings.ToUpper(*o.env)
	switch {
	case base.Module == "":
		return base, fmt.Errorf("no PKCS#11 module: set DCC_%s_PKCS11_MODULE or --module", env)
	case base.Token == "":
		return base, fmt.Errorf("no token label: set DCC_%s_PKCS11_TOKEN or --token", env)
	case base.PINFile == "":
		return base, fmt.Errorf("no PIN file: set DCC_%s_PKCS11_PIN_FILE or --pin-file", env)
	}
	return base, nil
}

func (o *hsmOptions) open(e *env) (*pkcs11.Token, setup.HSM, error) {
	h, err := o.resolve()
	if err != nil {
		return nil, h, err
	}
	pin, err := setup.ReadPIN(h.PINFile)
	if err != nil {
		return nil, h, err
	}
	tok, err := pkcs11.Open(pkcs11.Config{Module: h.Module, Token: h.Token, PIN: pin, Sessions: 1, Clock: e.now})
	if err != nil {
		return nil, h, err
	}
	return tok, h, nil
}

func hsmCommand(e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, hsmUsage)
		return exitUsage
	}
	sub := map[string]func(*env, []string) int{
		"keygen": hsmKeygen, "import": hsmImport, "list": hsmList, "retire": hsmRetire, "check": hsmCheck,
	}[args[0]]
	if sub == nil {
		fmt.Fprintf(e.stderr, "dccctl hsm: unknown subcommand %q\n%s\n", args[0], hsmUsage)
		return exitUsage
	}
	return sub(e, args[1:])
}

func hsmFail(e *env, name string, err error) int {
	fmt.Fprintf(e.stderr, "dccctl hsm %s: %v\n", name, err)
	return exitFailure
}

func hsmKeygen(e *env, args []string) int {
	o, err := newHSMFlags(e, "keygen")
	if err != nil {
		return hsmFail(e, "keygen", err)
	}
	label := o.fs.String("label", "", "label of the new key pair")
	csrPath := o.fs.String("csr", "", "write the CSR to this file (default: standard output)")
	country := o.fs.String("country", "SE", "subject country")
	org := o.fs.String("org", "", "subject organisation")
	cn := o.fs.String("cn", "", "subject common name (default: the label)")
	if rest, ok := parseFlags(o.fs, e, args); !ok || len(rest) > 0 || *label == "" {
		o.fs.Usage()
		return exitUsage
	}
	tok, _, err := o.open(e)
	if err != nil {
		return hsmFail(e, "keygen", err)
	}
	defer tok.Close()
	key, err := tok.Generate(e.ctx, *label)
	if err != nil {
		return hsmFail(e, "keygen", err)
	}
	if *cn == "" {
		*cn = *label
	}
	csr, err := keys.CSR(key, keys.Options{Country: *country, Organization: *org, CommonName: *cn})
	if err != nil {
		return hsmFail(e, "keygen", err)
	}
	if *csrPath == "" {
		_, _ = e.stdout.Write(csr)
		return exitOK
	}
	if err := os.WriteFile(*csrPath, csr, 0o644); err != nil {
		return hsmFail(e, "keygen", err)
	}
	fmt.Fprintf(e.stdout, "key: %s in token %q\ncsr: %s\n", *label, tok.Label(), *csrPath)
	return exitOK
}

func hsmImport(e *env, args []string) int {
	o, err := newHSMFlags(e, "import")
	if err != nil {
		return hsmFail(e, "import", err)
	}
	label := o.fs.String("label", "", "label of the key pair the DSC was issued for")
	certPath := o.fs.String("cert", "", "the DSC the CSCA issued, PEM or DER")
	if rest, ok := parseFlags(o.fs, e, args); !ok || len(rest) > 0 || *label == "" || *certPath == "" {
		o.fs.Usage()
		return exitUsage
	}
	tok, h, err := o.open(e)
	if err != nil {
		return hsmFail(e, "import", err)
	}
	defer tok.Close()
	if h.CSCAFile == "" {
		return hsmFail(e, "import", fmt.Errorf("no CSCA to check the DSC against: set DCC_%s_CSCA_FILE or --csca", strings.ToUpper(*o.env)))
	}
	cscas, err := setup.LoadCSCAs(h.CSCAFile)
	if err != nil {
		return hsmFail(e, "import", err)
	}
	dsc, err := keys.LoadCertificate(*certPath)
	if err != nil {
		return hsmFail(e, "import", err)
	}
	key, err := tok.Key(e.ctx, *label)
	if err != nil {
		return hsmFail(e, "import", err)
	}
	// A DSC issued ahead of its use is checked from the time it becomes valid.
	at := e.now()
	if at.Before(dsc.NotBefore) {
		at = dsc.NotBefore
	}
	if err := keys.CheckDSC(dsc, cscas, key.Public(), at); err != nil {
		return hsmFail(e, "import", err)
	}
	if err := tok.ImportCertificate(e.ctx, *label, dsc); err != nil {
		return hsmFail(e, "import", err)
	}
	fmt.Fprintf(e.stdout, "imported: %s\nkid:   %s\nvalid: %s to %s\n", *label, hex.EncodeToString(keys.KID(dsc)),
		dsc.NotBefore.UTC().Format(time.RFC3339), dsc.NotAfter.UTC().Format(time.RFC3339))
	return exitOK
}

func hsmList(e *env, args []string) int {
	o, err := newHSMFlags(e, "list")
	if err != nil {
		return hsmFail(e, "list", err)
	}
	if rest, ok := parseFlags(o.fs, e, args); !ok || len(rest) > 0 {
		o.fs.Usage()
		return exitUsage
	}
	tok, h, err := o.open(e)
	if err != nil {
		return hsmFail(e, "list", err)
	}
	defer tok.Close()
	entries, err := tok.List(e.ctx)
	if err != nil {
		return hsmFail(e, "list", err)
	}
	roles := keyRoles(h, e.now())
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "LABEL\tKEY\tROLE\tKID\tVALID FROM\tVALID TO\tSUBJECT")
	for _, en := range entries {
		key := "present"
		if !en.PrivateKey {
			key = "retired"
		}
		kid, from, to, subject := "-", "-", "-", "-"
		if c := en.Certificate; c != nil {
			kid, subject = hex.EncodeToString(keys.KID(c)), c.Subject.String()
			from, to = c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339)
		}
		role := roles[en.Label]
		if role == "" {
			role = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", en.Label, key, role, kid, from, to, subject)
	}
	if err := w.Flush(); err != nil {
		return hsmFail(e, "list", err)
	}
	return exitOK
}

// keyRoles names the configured keys' roles at now: "signing", "staged" (takes over at a set
// time) or "previous".
func keyRoles(h setup.HSM, now time.Time) map[string]string {
	out := map[string]string{}
	cur := 0
	for i, ks := range h.Keys {
		if !ks.From.After(now) {
			cur = i
		}
	}
	for i, ks := range h.Keys {
		switch {
		case i == cur:
			out[ks.Label] = "signing"
		case i > cur:
			out[ks.Label] = "staged from " + ks.From.UTC().Format(time.RFC3339)
		default:
			out[ks.Label] = "previous"
		}
	}
	return out
}

func hsmRetire(e *env, args []string) int {
	o, err := newHSMFlags(e, "retire")
	if err != nil {
		return hsmFail(e, "retire", err)
	}
	label := o.fs.String("label", "", "label of the key pair to destroy")
	force := o.fs.Bool("force", false, "retire even a key the configuration still signs with (or will)")
	if rest, ok := parseFlags(o.fs, e, args); !ok || len(rest) > 0 || *label == "" {
		o.fs.Usage()
		return exitUsage
	}
	tok, h, err := o.open(e)
	if err != nil {
		return hsmFail(e, "retire", err)
	}
	defer tok.Close()
	if role := keyRoles(h, e.now())[*label]; !*force && role != "" && role != "previous" {
		return hsmFail(e, "retire", fmt.Errorf("key %q is the %s key of DCC_%s_PKCS11_KEY; switch to its successor first (or --force)",
			*label, strings.Fields(role)[0], strings.ToUpper(*o.env)))
	}
	if err := tok.Retire(e.ctx, *label); err != nil {
		return hsmFail(e, "retire", err)
	}
	fmt.Fprintf(e.stdout, "retired: %s (its DSC stays in the token for the trust list)\n", *label)
	return exitOK
}

func hsmCheck(e *env, args []string) int {
	o, err := newHSMFlags(e, "check")
	if err != nil {
		return hsmFail(e, "check", err)
	}
	if rest, ok := parseFlags(o.fs, e, args); !ok || len(rest) > 0 {
		o.fs.Usage()
		return exitUsage
	}
	h, err := o.resolve()
	if err != nil {
		return hsmFail(e, "check", err)
	}
	if len(h.Keys) == 0 {
		return hsmFail(e, "check", fmt.Errorf("no key configured: set DCC_%s_PKCS11_KEY", strings.ToUpper(*o.env)))
	}
	if h.CSCAFile == "" {
		return hsmFail(e, "check", fmt.Errorf("no CSCA: set DCC_%s_CSCA_FILE or --csca", strings.ToUpper(*o.env)))
	}
	tokens := setup.NewTokens(o.cfg, e.now, slog.New(slog.DiscardHandler))
	defer tokens.Close()
	sched, err := setup.HSMSchedule(e.ctx, tokens, h, issuer.Environment(*o.env), e.now)
	if err != nil {
		return hsmFail(e, "check", err)
	}
	if _, err := sched.SignCWT([]byte{0xa0}); err != nil {
		return hsmFail(e, "check", fmt.Errorf("probe signature: %w", err))
	}
	cur := sched.Current()
	fmt.Fprintf(e.stdout, "signing: %s kid %s valid to %s\n", cur.DSC.Subject.CommonName, hex.EncodeToString(keys.KID(cur.DSC)),
		cur.DSC.NotAfter.UTC().Format(time.RFC3339))
	if next, ok := sched.Next(); ok {
		fmt.Fprintf(e.stdout, "staged:  %s kid %s takes over at %s\n", next.DSC.Subject.CommonName,
			hex.EncodeToString(keys.KID(next.DSC)), next.From.UTC().Format(time.RFC3339))
	}
	pub := sched.Published(e.now())
	slices.SortFunc(pub, func(a, b *x509.Certificate) int { return a.NotBefore.Compare(b.NotBefore) })
	for _, c := range pub {
		fmt.Fprintf(e.stdout, "published: kid %s (%s) until %s\n", hex.EncodeToString(keys.KID(c)), c.Subject.CommonName,
			c.NotAfter.UTC().Format(time.RFC3339))
	}
	return exitOK
}

// hsmSigner opens the environment's token for dccctl sign --hsm and returns the key labelled
// label (the configured signing key when empty) with its DSC.
func hsmSigner(ctx context.Context, e *env, envName, label string) (*pkcs11.Token, *pkcs11.Key, *x509.Certificate, error) {
	o, err := newHSMFlags(e, "sign")
	if err != nil {
		return nil, nil, nil, err
	}
	*o.env = envName
	tok, h, err := o.open(e)
	if err != nil {
		return nil, nil, nil, err
	}
	if label == "" {
		roles := keyRoles(h, e.now())
		for l, r := range roles {
			if r == "signing" {
				label = l
			}
		}
	}
	if label == "" {
		tok.Close()
		return nil, nil, nil, errors.New("no key label: give --label or set DCC_<ENV>_PKCS11_KEY")
	}
	key, err := tok.Key(ctx, label)
	if err == nil {
		var dsc *x509.Certificate
		if dsc, err = tok.Certificate(ctx, label); err == nil {
			return tok, key, dsc, nil
		}
	}
	tok.Close()
	return nil, nil, nil, err
}
