package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/trust"
)

func registerHC1Commands(r registry) {
	r["sign"] = command{summary: "sign payload JSON from stdin and print the HC1 string", run: runSign}
	r["decode"] = command{summary: "print the headers, claims and payload of an HC1 string as JSON", run: runDecode}
	r["verify"] = command{summary: "verify an HC1 string against a DSC or a trust list", run: runVerify}
}

// maxPayload caps the payload JSON read by sign.
const maxPayload = 64 << 10

func runSign(e *env, args []string) int {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	keyPath := fs.String("key", "", "PEM private key (default $DCC_DATA_DIR/keys/sandbox/"+keys.KeyFile+")")
	certPath := fs.String("cert", "", "PEM DSC certificate (default $DCC_DATA_DIR/keys/sandbox/"+keys.CertFile+")")
	issuer := fs.String("issuer", "SE", "iss claim: issuing country")
	days := fs.Int("valid-days", 365, "exp claim: days after iat")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: dccctl sign [--key FILE] [--cert FILE] [--issuer SE] [--valid-days N] < payload.json")
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
	if *keyPath == "" {
		*keyPath = filepath.Join(defaultKeyDir(e), keys.KeyFile)
	}
	if *certPath == "" {
		*certPath = filepath.Join(defaultKeyDir(e), keys.CertFile)
	}
	key, cert, err := keys.Load(*keyPath, *certPath)
	if err != nil {
		fmt.Fprintf(e.stderr, "dccctl sign: %v\n", err)
		return exitFailure
	}
	signer, err := hcert.NewSigner(key, cert)
	if err != nil {
		fmt.Fprintf(e.stderr, "dccctl sign: %v\n", err)
		return exitFailure
	}
	payload, err := readPayload(e.stdin)
	if err != nil {
		fmt.Fprintf(e.stderr, "dccctl sign: %v\n", err)
		return exitFailure
	}
	now := e.now().UTC().Truncate(time.Second)
	hc1, err := signer.Sign(hcert.Claims{
		Issuer:   *issuer,
		IssuedAt: now,
		Expiry:   now.Add(time.Duration(*days) * 24 * time.Hour),
		Payload:  payload,
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "dccctl sign: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(e.stdout, hc1)
	return exitOK
}

// readPayload reads one DCC payload JSON document, rejecting unknown fields, and fills in the
// standardised names when only the written ones are given.
func readPayload(r io.Reader) (dcc.Certificate, error) {
	raw, err := io.ReadAll(io.LimitReader(r, maxPayload+1))
	if err != nil {
		return dcc.Certificate{}, fmt.Errorf("read payload: %w", err)
	}
	if len(raw) > maxPayload {
		return dcc.Certificate{}, fmt.Errorf("payload larger than %d bytes", maxPayload)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var c dcc.Certificate
	if err := dec.Decode(&c); err != nil {
		return dcc.Certificate{}, fmt.Errorf("payload JSON: %w", err)
	}
	if c.Name.FamilyNameStandardised == "" && c.Name.FamilyName != "" {
		if c.Name.FamilyNameStandardised, err = dcc.Transliterate(c.Name.FamilyName); err != nil {
			return dcc.Certificate{}, fmt.Errorf("nam.fn: %w", err)
		}
	}
	if c.Name.GivenNameStandardised == "" && c.Name.GivenName != "" {
		if c.Name.GivenNameStandardised, err = dcc.Transliterate(c.Name.GivenName); err != nil {
			return dcc.Certificate{}, fmt.Errorf("nam.gn: %w", err)
		}
	}
	return c, nil
}

// readHC1 takes the HC1 string from the single argument or the first line of stdin.
func readHC1(e *env, rest []string) (string, error) {
	switch len(rest) {
	case 1:
		return strings.TrimSpace(rest[0]), nil
	case 0:
		sc := bufio.NewScanner(e.stdin)
		sc.Buffer(make([]byte, 0, 8192), hcert.MaxEncodedLength+16)
		if !sc.Scan() {
			if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
				return "", fmt.Errorf("%w: the line on stdin is longer than %d characters", hcert.ErrTooLarge, hcert.MaxEncodedLength)
			} else if err != nil {
				return "", fmt.Errorf("read HC1 from stdin: %w", err)
			}
			return "", errors.New("no HC1 string given (argument or one line on stdin)")
		}
		return strings.TrimSpace(sc.Text()), nil
	}
	return "", errors.New("give one HC1 string")
}

// readFailure is the exit code for an HC1 that could not be read: an oversized one is not a
// valid certificate (1), anything else a usage error (2).
func readFailure(err error) int {
	if errors.Is(err, hcert.ErrTooLarge) {
		return exitFailure
	}
	return exitUsage
}

// decodedJSON is what decode and verify print.
type decodedJSON struct {
	Valid       *bool           `json:"valid,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	Protected   map[string]any  `json:"protected"`
	Unprotected map[string]any  `json:"unprotected"`
	Algorithm   string          `json:"algorithm"`
	KID         string          `json:"kid,omitempty"`
	Claims      claimsJSON      `json:"claims"`
	Kind        string          `json:"kind"`
	Payload     json.RawMessage `json:"payload"`
}

// claimsJSON holds the CWT claims: iat and exp as the numbers encoded, and beside them the
// dates they stand for (absent when the number names no date in the years 1 to 9999).
type claimsJSON struct {
	Issuer       string      `json:"iss"`
	IssuedAt     json.Number `json:"iat,omitempty"`
	IssuedAtDate string      `json:"iatDate,omitempty"`
	Expiry       json.Number `json:"exp,omitempty"`
	ExpiryDate   string      `json:"expDate,omitempty"`
	Problems     []string    `json:"problems,omitempty"`
}

func numericClaims(d *hcert.Decoded) claimsJSON {
	out := claimsJSON{Issuer: d.Claims.Issuer}
	for _, c := range []struct {
		name   string
		claim  *hcert.NumericDate
		number *json.Number
		date   *string
	}{
		{"iat", d.IssuedAtClaim, &out.IssuedAt, &out.IssuedAtDate},
		{"exp", d.ExpiryClaim, &out.Expiry, &out.ExpiryDate},
	} {
		if c.claim == nil {
			continue
		}
		*c.number = c.claim.Number
		if c.claim.InRange() {
			*c.date = c.claim.Time.Format(time.RFC3339Nano)
		} else {
			out.Problems = append(out.Problems, fmt.Sprintf("%s %s is not a date in the years 1 to 9999", c.name, c.claim.Number))
		}
	}
	return out
}

func algorithmName(alg int64) string {
	switch alg {
	case -7:
		return "ES256"
	case -37:
		return "PS256"
	}
	return fmt.Sprint(alg)
}

func describe(d *hcert.Decoded) (decodedJSON, error) {
	payload, err := d.PayloadJSON()
	if err != nil {
		return decodedJSON{}, err
	}
	out := decodedJSON{
		Protected:   hcert.JSONValue(d.Protected).(map[string]any),
		Unprotected: hcert.JSONValue(d.Unprotected).(map[string]any),
		Algorithm:   algorithmName(d.Algorithm),
		Claims:      numericClaims(d),
		Kind:        d.Kind().String(),
		Payload:     payload,
	}
	if len(d.KID) > 0 {
		out.KID = base64.StdEncoding.EncodeToString(d.KID)
	}
	return out, nil
}

func printJSON(e *env, v any) {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func runDecode(e *env, args []string) int {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(e.stderr, "usage: dccctl decode [HC1]   (or one line on stdin)") }
	rest, ok := parseFlags(fs, e, args)
	if !ok {
		return exitUsage
	}
	hc1, err := readHC1(e, rest)
	if err != nil {
		fmt.Fprintf(e.stderr, "dccctl decode: %v\n", err)
		return readFailure(err)
	}
	d, err := hcert.Decode(hc1)
	if err != nil {
		fmt.Fprintf(e.stderr, "dccctl decode: %s: %v\n", hcert.Reason(err), err)
		return exitFailure
	}
	out, err := describe(d)
	if err != nil {
		fmt.Fprintf(e.stderr, "dccctl decode: %v\n", err)
		return exitFailure
	}
	printJSON(e, out)
	return exitOK
}

func runVerify(e *env, args []string) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	certPath := fs.String("cert", "", "trust this PEM (or DER) DSC")
	list := fs.String("trust-list", "", "trust list JSON (or PEM bundle): URL or file")
	at := fs.String("now", "", "verify at this RFC 3339 time instead of the current time")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: dccctl verify (--cert FILE | --trust-list URL|FILE) [--now RFC3339] [HC1]")
		fs.PrintDefaults()
	}
	rest, ok := parseFlags(fs, e, args)
	if !ok {
		return exitUsage
	}
	if (*certPath == "") == (*list == "") {
		fmt.Fprintln(e.stderr, "dccctl verify: give exactly one of --cert and --trust-list")
		return exitUsage
	}
	now := e.now()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			fmt.Fprintf(e.stderr, "dccctl verify: --now: %v\n", err)
			return exitUsage
		}
		now = t
	}
	hc1, err := readHC1(e, rest)
	if err != nil {
		fmt.Fprintf(e.stderr, "dccctl verify: invalid: %s: %v\n", hcert.Reason(err), err)
		return readFailure(err)
	}
	var tl *trust.List
	if *certPath != "" {
		cert, err := keys.LoadCertificate(*certPath)
		if err != nil {
			fmt.Fprintf(e.stderr, "dccctl verify: %v\n", err)
			return exitFailure
		}
		tl = trust.New("", cert)
	} else if tl, err = trust.Load(e.ctx, nil, *list); err != nil {
		fmt.Fprintf(e.stderr, "dccctl verify: %v\n", err)
		return exitFailure
	}
	d, verr := hcert.Verify(hc1, tl, now)
	if verr != nil {
		fmt.Fprintf(e.stderr, "invalid: %s: %v\n", hcert.Reason(verr), verr)
		return exitFailure
	}
	out, err := describe(d)
	if err != nil {
		fmt.Fprintf(e.stderr, "invalid: %s: %v\n", hcert.Reason(err), err)
		return exitFailure
	}
	valid := true
	out.Valid = &valid
	printJSON(e, out)
	return exitOK
}
