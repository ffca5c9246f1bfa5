package main

import (
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sedcc/dcc/signing/keys"
)

// File names of a development CSCA directory.
const (
	cscaKeyFile  = "csca.key"
	cscaCertFile = "csca.crt"
)

func registerCSCACommands(r registry) {
	r["csca"] = command{summary: "development CSCA: create, sign (a DSC from a CSR)", run: cscaCommand}
}

const cscaUsage = `usage: dccctl csca <create|sign> [flags]

  create --out DIR [--country SE] [--cn NAME] [--valid-days 3650]
         a development Country Signing CA: DIR/csca.key (mode 0600) and DIR/csca.crt
  sign   --csca DIR --csr FILE --out FILE [--valid-days 365]
         issue a DSC for a CSR (e.g. from dccctl hsm keygen), as the national CSCA would

A development CSCA is for tests and rehearsals of the key ceremony; production DSCs are issued
by the national CSCA.`

func cscaCommand(e *env, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, cscaUsage)
		return exitUsage
	}
	switch args[0] {
	case "create":
		return cscaCreate(e, args[1:])
	case "sign":
		return cscaSign(e, args[1:])
	}
	fmt.Fprintf(e.stderr, "dccctl csca: unknown subcommand %q\n%s\n", args[0], cscaUsage)
	return exitUsage
}

func cscaCreate(e *env, args []string) int {
	fs := flag.NewFlagSet("csca create", flag.ContinueOnError)
	out := fs.String("out", "", "directory for "+cscaKeyFile+" and "+cscaCertFile)
	country := fs.String("country", "SE", "subject country")
	cn := fs.String("cn", "", "subject common name (default \"DCC development CSCA\")")
	days := fs.Int("valid-days", 3650, "validity in days")
	fs.Usage = func() { fmt.Fprintln(e.stderr, cscaUsage) }
	if rest, ok := parseFlags(fs, e, args); !ok || len(rest) > 0 || *out == "" || *days <= 0 {
		fs.Usage()
		return exitUsage
	}
	key, err := keys.NewKey()
	if err != nil {
		return cscaFail(e, "create", err)
	}
	cert, err := keys.NewCSCA(key, keys.CSCAOptions{Country: *country, CommonName: *cn, Now: e.now(),
		Validity: time.Duration(*days) * 24 * time.Hour})
	if err != nil {
		return cscaFail(e, "create", err)
	}
	keyPEM, err := keys.EncodeKey(key)
	if err != nil {
		return cscaFail(e, "create", err)
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return cscaFail(e, "create", err)
	}
	if err := writeExclusive(filepath.Join(*out, cscaKeyFile), keyPEM, 0o600); err != nil {
		return cscaFail(e, "create", err)
	}
	if err := writeExclusive(filepath.Join(*out, cscaCertFile), keys.EncodeCertificate(cert), 0o644); err != nil {
		return cscaFail(e, "create", err)
	}
	fmt.Fprintf(e.stdout, "key:  %s\ncert: %s\nvalid: %s to %s\n", filepath.Join(*out, cscaKeyFile), filepath.Join(*out, cscaCertFile),
		cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	return exitOK
}

func cscaSign(e *env, args []string) int {
	fs := flag.NewFlagSet("csca sign", flag.ContinueOnError)
	dir := fs.String("csca", "", "development CSCA directory (from dccctl csca create)")
	csrPath := fs.String("csr", "", "the DSC's certificate signing request, PEM")
	out := fs.String("out", "", "file for the issued DSC, PEM")
	days := fs.Int("valid-days", 365, "validity of the DSC in days")
	fs.Usage = func() { fmt.Fprintln(e.stderr, cscaUsage) }
	if rest, ok := parseFlags(fs, e, args); !ok || len(rest) > 0 || *dir == "" || *csrPath == "" || *out == "" || *days <= 0 {
		fs.Usage()
		return exitUsage
	}
	key, cert, err := keys.Load(filepath.Join(*dir, cscaKeyFile), filepath.Join(*dir, cscaCertFile))
	if err != nil {
		return cscaFail(e, "sign", err)
	}
	raw, err := os.ReadFile(*csrPath)
	if err != nil {
		return cscaFail(e, "sign", err)
	}
	csr, err := keys.ParseCSR(raw)
	if err != nil {
		return cscaFail(e, "sign", err)
	}
	dsc, err := keys.IssueDSC(key, cert, csr, e.now(), time.Duration(*days)*24*time.Hour)
	if err != nil {
		return cscaFail(e, "sign", err)
	}
	if err := writeExclusive(*out, keys.EncodeCertificate(dsc), 0o644); err != nil {
		return cscaFail(e, "sign", err)
	}
	fmt.Fprintf(e.stdout, "dsc:  %s\nkid:  %s\nvalid: %s to %s\n", *out, hex.EncodeToString(keys.KID(dsc)),
		dsc.NotBefore.UTC().Format(time.RFC3339), dsc.NotAfter.UTC().Format(time.RFC3339))
	return exitOK
}

func cscaFail(e *env, name string, err error) int {
	fmt.Fprintf(e.stderr, "dccctl csca %s: %v\n", name, err)
	return exitFailure
}

// writeExclusive writes a new file, refusing to replace one.
func writeExclusive(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
