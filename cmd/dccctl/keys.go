package main

import (
	"crypto/x509"
	"encoding/hex"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/sedcc/dcc/cmd/internal/setup"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/signing/keys"
)

func registerKeyCommands(r registry) {
	r["keygen"] = command{summary: "create a signing key and a self-signed DSC (or a CSR)", run: runKeygen}
}

// defaultKeyDir is where dccd keeps its development sandbox key and DSC:
// DCC_DATA_DIR/keys/sandbox (DCC_DATA_DIR defaults to ./data).
func defaultKeyDir(e *env) string {
	dir := setup.Defaults().DataDir
	if d := e.getenv("DCC_DATA_DIR"); d != "" {
		dir = d
	}
	return setup.DevelopmentKeyDir(dir, issuer.Sandbox)
}

func runKeygen(e *env, args []string) int {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := fs.String("out", "", "directory for "+keys.KeyFile+" and "+keys.CertFile+" (default $DCC_DATA_DIR/keys/sandbox, the development key dccd signs sandbox certificates with)")
	fs.StringVar(out, "o", "", "short for --out")
	csr := fs.Bool("csr", false, "write a CSR ("+keys.CSRFile+") for the national CSCA instead of a self-signed DSC")
	country := fs.String("country", "SE", "subject country")
	org := fs.String("org", "", "subject organisation")
	cn := fs.String("cn", "", "subject common name")
	days := fs.Int("valid-days", 730, "validity of the self-signed DSC in days")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: dccctl keygen [--out DIR] [--csr] [--country SE] [--org NAME] [--cn NAME] [--valid-days N]")
		fs.PrintDefaults()
	}
	rest, ok := parseFlags(fs, e, args)
	if !ok {
		return exitUsage
	}
	if len(rest) > 0 || *days <= 0 {
		fs.Usage()
		return exitUsage
	}
	dir := *out
	if dir == "" {
		dir = defaultKeyDir(e)
	}
	opts := keys.Options{Country: *country, Organization: *org, CommonName: *cn, Now: e.now(), Validity: time.Duration(*days) * 24 * time.Hour}
	if *csr {
		if _, _, err := keys.GenerateCSR(dir, opts); err != nil {
			fmt.Fprintf(e.stderr, "dccctl keygen: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(e.stdout, "key: %s\ncsr: %s\n", filepath.Join(dir, keys.KeyFile), filepath.Join(dir, keys.CSRFile))
		return exitOK
	}
	_, cert, err := keys.Generate(dir, opts)
	if err != nil {
		fmt.Fprintf(e.stderr, "dccctl keygen: %v\n", err)
		return exitFailure
	}
	printDSC(e, dir, cert)
	return exitOK
}

func printDSC(e *env, dir string, cert *x509.Certificate) {
	fmt.Fprintf(e.stdout, "key:  %s\ncert: %s\nkid:  %s\nvalid: %s to %s\n",
		filepath.Join(dir, keys.KeyFile), filepath.Join(dir, keys.CertFile), hex.EncodeToString(keys.KID(cert)),
		cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
}
