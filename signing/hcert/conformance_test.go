package hcert

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/sedcc/dcc/signing/base45"
	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/dcc/dccschema"
	"github.com/sedcc/dcc/signing/keys"
)

// vector is one dgc-testdata file.
type vector struct {
	JSON       json.RawMessage
	CBOR       string
	COSE       string
	COMPRESSED string
	BASE45     string
	PREFIX     string
	TESTCTX    struct {
		SCHEMA          string
		CERTIFICATE     string
		VALIDATIONCLOCK string
		DESCRIPTION     string
	}
	EXPECTEDRESULTS map[string]bool
}

func readVector(t testing.TB, path string) vector {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func parseClock(s string) (time.Time, error) {
	// RFC 3339, ISO 8601 basic offsets ("+0000") and local times without offset (read as UTC)
	// all occur in the vectors.
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-0700", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unparseable VALIDATIONCLOCK %q", s)
}

// jsonable turns a generic CBOR value into what encoding/json would have produced for the
// same document, so the two can be compared: string map keys, float64 numbers, tag contents.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	case cbor.Tag:
		return jsonable(x.Content)
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case float32:
		return float64(x)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	}
	return v
}

func genericCBOR(b []byte) (any, error) {
	c, err := codecs()
	if err != nil {
		return nil, err
	}
	var v any
	if err := c.dec.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return jsonable(v), nil
}

func genericJSON(b []byte) (any, error) {
	var v any
	err := json.Unmarshal(b, &v)
	return v, err
}

// flagResult counts one EXPECTEDRESULTS flag over all vectors.
type flagResult struct {
	judged, agreed int
	skipped        map[string]int // reason -> count
	disagreed      []string
}

// knownDisagreements lists the vectors whose expectation this project deliberately does not
// share, with the reason (docs/conformance.md). Keys are "path flag".
var knownDisagreements = map[string]string{
	"IS/2DCode/raw/3.json EXPECTEDKEYUSAGE": "DSC without DCC extended key usage may sign every kind",
}

func TestConformance(t *testing.T) {
	files, err := filepath.Glob("testdata/dgc-testdata/*/2DCode/raw/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	sort.Strings(files)
	schema, err := dccschema.Compile()
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]*flagResult{}
	record := func(file, flag string, expected bool, got bool, skip string, why error) {
		r := results[flag]
		if r == nil {
			r = &flagResult{skipped: map[string]int{}}
			results[flag] = r
		}
		if skip != "" {
			r.skipped[skip]++
			return
		}
		r.judged++
		if got == expected {
			r.agreed++
			return
		}
		key := file + " " + flag
		if reason, ok := knownDisagreements[key]; ok {
			r.skipped["known: "+reason]++
			r.judged--
			return
		}
		r.disagreed = append(r.disagreed, fmt.Sprintf("%s: expected %v, got %v (%v)", key, expected, got, why))
	}

	for _, file := range files {
		v := readVector(t, file)
		rel := strings.TrimPrefix(file, "testdata/dgc-testdata/")
		clock, clockErr := parseClock(v.TESTCTX.VALIDATIONCLOCK)
		var cert *x509.Certificate
		if der, err := base64.StdEncoding.DecodeString(v.TESTCTX.CERTIFICATE); err == nil {
			cert, _ = x509.ParseCertificate(der)
		}
		coseBytes, _ := hex.DecodeString(v.COSE)
		compressed, _ := hex.DecodeString(v.COMPRESSED)

		// The decoded message: from COSE when the vector has it, else from the whole chain.
		var decoded *Decoded
		var decodeErr error
		if len(coseBytes) > 0 {
			decoded, decodeErr = ParseCOSE(coseBytes)
		} else {
			decoded, decodeErr = Decode(v.PREFIX)
		}

		for flag, expected := range v.EXPECTEDRESULTS {
			switch flag {
			case "EXPECTEDUNPREFIX":
				_, err := Decode(v.PREFIX)
				ok := v.PREFIX != "" && !errors.Is(err, ErrPrefix) && !errors.Is(err, ErrTooLarge)
				if ok && v.BASE45 != "" {
					ok = strings.TrimPrefix(v.PREFIX, Prefix) == v.BASE45
				}
				record(rel, flag, expected, ok, "", err)

			case "EXPECTEDB45DECODE":
				if v.BASE45 == "" {
					record(rel, flag, expected, false, "no BASE45", nil)
					continue
				}
				b, err := base45.Decode(v.BASE45)
				ok := err == nil && (len(compressed) == 0 || bytes.Equal(b, compressed))
				record(rel, flag, expected, ok, "", err)

			case "EXPECTEDCOMPRESSION":
				if len(compressed) == 0 || len(coseBytes) == 0 {
					record(rel, flag, expected, false, "no COMPRESSED or COSE", nil)
					continue
				}
				b, err := Inflate(compressed)
				record(rel, flag, expected, err == nil && bytes.Equal(b, coseBytes), "", err)

			case "EXPECTEDDECODE":
				if v.CBOR == "" || len(v.JSON) == 0 {
					record(rel, flag, expected, false, "no CBOR or JSON", nil)
					continue
				}
				ok, err := decodeMatches(v, decoded, decodeErr, len(coseBytes) > 0)
				record(rel, flag, expected, ok, "", err)

			case "EXPECTEDVALIDJSON":
				if len(v.JSON) == 0 || v.PREFIX == "" {
					record(rel, flag, expected, false, "no JSON or PREFIX", nil)
					continue
				}
				d, err := Decode(v.PREFIX)
				ok := false
				if err == nil {
					ok, err = sameContent(d.RawPayload, v.JSON)
				}
				record(rel, flag, expected, ok, "", err)

			case "EXPECTEDVERIFY":
				if cert == nil {
					record(rel, flag, expected, false, "no parseable TESTCTX.CERTIFICATE", nil)
					continue
				}
				ok, err := decodeErr == nil, decodeErr
				if ok {
					err = verifySignatureOnly(decoded, cert)
					ok = err == nil
				}
				record(rel, flag, expected, ok, "", err)

			case "EXPECTEDEXPIRATIONCHECK":
				if clockErr != nil {
					record(rel, flag, expected, false, "no VALIDATIONCLOCK", nil)
					continue
				}
				ok, err := decodeErr == nil, decodeErr
				if ok {
					err = decoded.CheckTime(clock)
					ok = err == nil
				}
				record(rel, flag, expected, ok, "", err)

			case "EXPECTEDKEYUSAGE":
				if cert == nil {
					record(rel, flag, expected, false, "no parseable TESTCTX.CERTIFICATE", nil)
					continue
				}
				ok, err := decodeErr == nil, decodeErr
				if ok {
					if err = verifySignatureOnly(decoded, cert); err == nil {
						err = decoded.CheckKeyUsage(cert)
					}
					ok = err == nil
				}
				record(rel, flag, expected, ok, "", err)

			case "EXPECTEDSCHEMAVALIDATION":
				if !strings.HasPrefix(v.TESTCTX.SCHEMA, "1.3.") {
					record(rel, flag, expected, false, "written for schema "+v.TESTCTX.SCHEMA+", only 1.3.3 is at hand", nil)
					continue
				}
				var payload []byte
				switch {
				case decodeErr == nil:
					payload = decoded.RawPayload
				case v.CBOR != "":
					payload, _ = vectorPayload(v.CBOR)
				default:
					record(rel, flag, expected, false, "no decodable payload", nil)
					continue
				}
				err := schemaValid(schema, payload)
				record(rel, flag, expected, err == nil, "", err)

			case "EXPECTEDVALIDOBJECT":
				if !strings.HasPrefix(v.TESTCTX.SCHEMA, "1.3.") {
					record(rel, flag, expected, false, "written for schema "+v.TESTCTX.SCHEMA+", only 1.3.3 is at hand", nil)
					continue
				}
				if len(v.JSON) == 0 {
					record(rel, flag, expected, false, "no JSON", nil)
					continue
				}
				err := schema.ValidateJSON(v.JSON)
				record(rel, flag, expected, err == nil, "", err)

			case "EXPECTEDENCODE":
				if len(v.JSON) == 0 || v.CBOR == "" {
					record(rel, flag, expected, false, "no JSON or CBOR", nil)
					continue
				}
				if !modelled(v.JSON) {
					record(rel, flag, expected, false, "payload has fields schema 1.3 dropped (t.dr of 1.0)", nil)
					continue
				}
				ok, err := encodeMatches(v)
				record(rel, flag, expected, ok, "", err)

			case "EXPECTEDPICTUREDECODE":
				record(rel, flag, expected, false, "QR image decoding is outside the signing packages", nil)

			default:
				record(rel, flag, expected, false, "unknown flag", nil)
			}
		}
	}

	// The typed payload: what DecodePayload makes of the CBOR that PREFIX carries equals what the
	// vector's JSON reads into, for every vector whose JSON the type models.
	for _, file := range files {
		v := readVector(t, file)
		rel := strings.TrimPrefix(file, "testdata/dgc-testdata/")
		const flag = "typed payload"
		if v.PREFIX == "" || len(v.JSON) == 0 {
			record(rel, flag, false, false, "no PREFIX or JSON", nil)
			continue
		}
		var want dcc.Certificate
		strict := json.NewDecoder(bytes.NewReader(v.JSON))
		strict.DisallowUnknownFields()
		if err := strict.Decode(&want); err != nil {
			record(rel, flag, false, false, "payload has fields schema 1.3 dropped (t.dr of 1.0)", nil)
			continue
		}
		d, err := Decode(v.PREFIX)
		if err != nil {
			record(rel, flag, false, false, "PREFIX does not decode ("+Reason(err)+")", nil)
			continue
		}
		ok := reflect.DeepEqual(normalised(d.Claims.Payload), normalised(want))
		if !ok {
			err = fmt.Errorf("typed payload %+v, JSON reads %+v", d.Claims.Payload, want)
		}
		record(rel, flag, true, ok, "", err)
	}

	// The composed check a verifier runs: hcert.Verify of the whole HC1 string at the
	// vector's clock, with its DSC as the only trusted certificate. It must succeed exactly when
	// every step the vector judges is expected to succeed.
	for _, file := range files {
		v := readVector(t, file)
		rel := strings.TrimPrefix(file, "testdata/dgc-testdata/")
		const flag = "whole chain (hcert.Verify)"
		clock, err := parseClock(v.TESTCTX.VALIDATIONCLOCK)
		der, derr := base64.StdEncoding.DecodeString(v.TESTCTX.CERTIFICATE)
		cert, cerr := x509.ParseCertificate(der)
		if v.PREFIX == "" || err != nil || derr != nil || cerr != nil {
			record(rel, flag, false, false, "no PREFIX, clock or certificate", nil)
			continue
		}
		expected, schemaOnly := true, false
		for f, want := range v.EXPECTEDRESULTS {
			if f == "EXPECTEDPICTUREDECODE" {
				continue
			}
			if f == "EXPECTEDSCHEMAVALIDATION" || f == "EXPECTEDVALIDOBJECT" {
				schemaOnly = schemaOnly || !want
				continue
			}
			if !want && knownDisagreements[rel+" "+f] == "" {
				expected = false
			}
		}
		if expected && schemaOnly {
			record(rel, flag, false, false, "expected to fail schema validation only, which Verify leaves to the caller", nil)
			continue
		}
		trust := mapTrust{string(keys.KID(cert)): {cert}}
		_, err = Verify(v.PREFIX, trust, clock)
		record(rel, flag, expected, err == nil, "", err)
	}

	flags := make([]string, 0, len(results))
	for f := range results {
		flags = append(flags, f)
	}
	sort.Strings(flags)
	var table strings.Builder
	fmt.Fprintf(&table, "%d vectors\n%-26s %7s %7s %8s  skipped\n", len(files), "flag", "judged", "agreed", "disagree")
	totalJudged, totalAgreed := 0, 0
	for _, f := range flags {
		r := results[f]
		totalJudged += r.judged
		totalAgreed += r.agreed
		var skips []string
		for reason, n := range r.skipped {
			skips = append(skips, fmt.Sprintf("%d (%s)", n, reason))
		}
		sort.Strings(skips)
		fmt.Fprintf(&table, "%-26s %7d %7d %8d  %s\n", f, r.judged, r.agreed, len(r.disagreed), strings.Join(skips, ", "))
		for _, d := range r.disagreed {
			t.Errorf("disagreement: %s", d)
		}
	}
	fmt.Fprintf(&table, "%-26s %7d %7d %8d\n", "total", totalJudged, totalAgreed, totalJudged-totalAgreed)
	t.Logf("dgc-testdata conformance:\n%s", table.String())
	if totalJudged < 1000 {
		t.Errorf("only %d flags judged; the vectors were not read", totalJudged)
	}
}

// verifySignatureOnly is the cryptographic part of Verify with cert as the only trusted DSC:
// algorithm, kid lookup (protected header first) and signature.
func verifySignatureOnly(d *Decoded, cert *x509.Certificate) error {
	if _, ok := supported[d.Algorithm]; !ok {
		return fmt.Errorf("%w: %d", ErrUnknownAlgorithm, d.Algorithm)
	}
	if !bytes.Equal(d.KID, keys.KID(cert)) {
		return fmt.Errorf("%w: %x", ErrUnknownKID, d.KID)
	}
	return d.VerifySignature(cert)
}

// vectorPayload returns the DCC payload of a vector's CBOR field, which holds either the payload
// itself or (in most vectors) the whole CWT claims set.
func vectorPayload(cborHex string) ([]byte, error) {
	raw, err := hex.DecodeString(cborHex)
	if err != nil {
		return nil, err
	}
	c, err := codecs()
	if err != nil {
		return nil, err
	}
	var claims map[int64]cbor.RawMessage
	if err := c.dec.Unmarshal(raw, &claims); err != nil || claims[claimHCert] == nil {
		return raw, nil
	}
	var hc map[int64]cbor.RawMessage
	if err := c.dec.Unmarshal(claims[claimHCert], &hc); err != nil {
		return nil, err
	}
	if hc[hcertDCC] == nil {
		return nil, errors.New("hcert claim without key 1")
	}
	return hc[hcertDCC], nil
}

// normalised makes empty and absent groups alike, as omitempty writes them.
func normalised(c dcc.Certificate) dcc.Certificate {
	if len(c.Vaccination) == 0 {
		c.Vaccination = nil
	}
	if len(c.Test) == 0 {
		c.Test = nil
	}
	if len(c.Recovery) == 0 {
		c.Recovery = nil
	}
	return c
}

// sameContent compares the payload as PayloadJSON renders it (the exact conversion) with the
// vector's JSON.
func sameContent(payloadCBOR []byte, payloadJSON []byte) (bool, error) {
	ev, err := ExactValue(payloadCBOR)
	if err != nil {
		return false, err
	}
	js, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	a, err := genericJSON(js)
	if err != nil {
		return false, err
	}
	b, err := genericJSON(payloadJSON)
	if err != nil {
		return false, err
	}
	if !reflect.DeepEqual(a, b) {
		return false, fmt.Errorf("payload differs from JSON")
	}
	return true, nil
}

// decodeMatches: the CBOR decodes, matches the JSON, and (when the vector has COSE) is what
// the COSE message carries.
func decodeMatches(v vector, decoded *Decoded, decodeErr error, hasCOSE bool) (bool, error) {
	raw, err := vectorPayload(v.CBOR)
	if err != nil {
		return false, err
	}
	if _, err := DecodePayload(raw); err != nil {
		return false, err
	}
	if ok, err := sameContent(raw, v.JSON); !ok {
		return false, err
	}
	if hasCOSE {
		if decodeErr != nil {
			return false, decodeErr
		}
		a, err := genericCBOR(raw)
		if err != nil {
			return false, err
		}
		b, err := genericCBOR(decoded.RawPayload)
		if err != nil {
			return false, err
		}
		if !reflect.DeepEqual(a, b) {
			return false, errors.New("COSE payload differs from CBOR")
		}
	}
	return true, nil
}

// modelled reports whether dcc.Certificate holds every field of the JSON payload.
func modelled(payload []byte) bool {
	var cert dcc.Certificate
	if err := json.Unmarshal(payload, &cert); err != nil {
		return false
	}
	again, err := json.Marshal(cert)
	if err != nil {
		return false
	}
	a, _ := genericJSON(payload)
	b, _ := genericJSON(again)
	return reflect.DeepEqual(a, b)
}

// encodeMatches: the JSON, read into dcc.Certificate and encoded by this package, has the
// content of the vector's CBOR.
func encodeMatches(v vector) (bool, error) {
	var cert dcc.Certificate
	if err := json.Unmarshal(v.JSON, &cert); err != nil {
		return false, err
	}
	c, err := codecs()
	if err != nil {
		return false, err
	}
	ours, err := c.enc.Marshal(&cert)
	if err != nil {
		return false, err
	}
	theirs, err := vectorPayload(v.CBOR)
	if err != nil {
		return false, err
	}
	a, err := genericCBOR(ours)
	if err != nil {
		return false, err
	}
	b, err := genericCBOR(theirs)
	if err != nil {
		return false, err
	}
	if !reflect.DeepEqual(a, b) {
		return false, errors.New("encoding differs")
	}
	return true, nil
}

func schemaValid(schema *dccschema.Schema, payload []byte) error {
	g, err := genericCBOR(payload)
	if err != nil {
		return err
	}
	js, err := json.Marshal(g)
	if err != nil {
		return err
	}
	return schema.ValidateJSON(js)
}
