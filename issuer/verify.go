package issuer

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
	"github.com/sedcc/dcc/signing/revocation"
	"github.com/sedcc/dcc/signing/trust"
)

// The checks a verification reports, each as its own finding, in this order.
const (
	CheckDecode      = "decode"       // prefix, Base45, zlib, COSE, CWT, payload
	CheckSignature   = "signature"    // algorithm, kid in the trust list, signature by that DSC
	CheckExpiry      = "expiry"       // iat <= now <= exp
	CheckDSCValidity = "dsc-validity" // the DSC was valid when the certificate was signed (iat)
	CheckKeyUsage    = "key-usage"    // the DSC's extended key usages allow the kind
	CheckRevocation  = "revocation"   // not in this service's revocation list
	CheckSchema      = "schema"       // the payload validates against the EU DCC schema 1.3.3
	CheckValueSets   = "value-sets"   // its codes are in the EU value sets
)

// Results of a finding.
const (
	ResultPass    = "pass"
	ResultFail    = "fail"
	ResultSkipped = "skipped" // an earlier finding leaves nothing to check
)

// codeNotThisIssuer marks the revocation finding of a certificate another issuer signed.
const codeNotThisIssuer = "not-this-issuer"

// Finding is the result of one check.
type Finding struct {
	Check  string `json:"check"`
	Result string `json:"result"`
	// Code is a stable reason for a failure or skip: hcert.Reason codes ("expired",
	// "unknown-kid", ...), "revoked", "schema", "value-set", "not-this-issuer".
	Code   string `json:"code,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Verification is the report of one verified HC1 string.
type Verification struct {
	// Valid is true when every check passed; the one skip that leaves it true is the revocation
	// check of another issuer's certificate (code not-this-issuer).
	Valid    bool      `json:"valid"`
	At       time.Time `json:"at"`
	Findings []Finding `json:"findings"`
	// What was read, when the HC1 decoded. Payload is the signed payload as encoded.
	KID       string          `json:"kid,omitempty"` // base64
	Algorithm int64           `json:"alg,omitempty"`
	Issuer    string          `json:"iss,omitempty"`
	IssuedAt  *time.Time      `json:"iat,omitempty"`
	Expires   *time.Time      `json:"exp,omitempty"`
	Kind      string          `json:"kind,omitempty"`
	UVCI      string          `json:"uvci,omitempty"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	// DSC names the certificate that signed, when the signature verified.
	DSC *VerifiedDSC `json:"dsc,omitempty"`
}

// VerifiedDSC describes the DSC whose key the signature verified with.
type VerifiedDSC struct {
	Subject    string    `json:"subject"`
	Thumbprint string    `json:"thumbprint"` // hex SHA-256 of the DER
	ValidFrom  time.Time `json:"validFrom"`
	ValidTo    time.Time `json:"validTo"`
	Kinds      []string  `json:"kinds"`
}

// Verify decodes an HC1 string and checks it against a trust list (this service's own when
// list is nil) at time at, reporting every check as its own finding. Only a store outage while
// reading the revocation list is an error; everything about the certificate is a finding.
func (s *Revocations) Verify(ctx context.Context, hc1 string, list *trust.List, at time.Time) (Verification, error) {
	v := Verification{At: at.UTC()}
	add := func(check, result, code, detail string) {
		v.Findings = append(v.Findings, Finding{Check: check, Result: result, Code: code, Detail: detail})
	}
	skipRest := func(from int, code, detail string) {
		all := []string{CheckDecode, CheckSignature, CheckExpiry, CheckDSCValidity, CheckKeyUsage, CheckRevocation, CheckSchema, CheckValueSets}
		for _, c := range all[from:] {
			add(c, ResultSkipped, code, detail)
		}
	}

	d, err := hcert.Decode(hc1)
	if err != nil {
		add(CheckDecode, ResultFail, hcert.Reason(err), err.Error())
		skipRest(1, "undecodable", "The HC1 string could not be decoded.")
		return v, nil
	}
	add(CheckDecode, ResultPass, "", "")
	v.KID, v.Algorithm, v.Issuer = base64.StdEncoding.EncodeToString(d.KID), d.Algorithm, d.Claims.Issuer
	if d.IssuedAtClaim.InRange() {
		t := d.Claims.IssuedAt
		v.IssuedAt = &t
	}
	if d.ExpiryClaim.InRange() {
		t := d.Claims.Expiry
		v.Expires = &t
	}
	v.Kind, v.UVCI = d.Kind().String(), d.Claims.Payload.ID()
	if p, err := d.PayloadJSON(); err == nil {
		v.Payload = p
	}

	own := list == nil
	if own {
		if list, err = s.TrustList(ctx); err != nil {
			return Verification{}, err
		}
	}

	// Signature.
	var signer *x509.Certificate
	certs := list.Lookup(d.KID)
	switch {
	case len(d.KID) == 0:
		add(CheckSignature, ResultFail, hcert.Reason(hcert.ErrUnknownKID), "The certificate names no kid.")
	case len(certs) == 0:
		add(CheckSignature, ResultFail, hcert.Reason(hcert.ErrUnknownKID),
			fmt.Sprintf("The trust list has no DSC with kid %s.", v.KID))
	default:
		var errs []error
		for _, c := range certs {
			if err := d.VerifySignature(c); err != nil {
				errs = append(errs, err)
				continue
			}
			signer = c
			break
		}
		if signer == nil {
			err := errors.Join(errs...)
			add(CheckSignature, ResultFail, hcert.Reason(err), err.Error())
		} else {
			add(CheckSignature, ResultPass, "", "")
			sum := sha256.Sum256(signer.Raw)
			kinds := []string{}
			for _, k := range keys.Kinds(signer) {
				kinds = append(kinds, k.String())
			}
			v.DSC = &VerifiedDSC{Subject: signer.Subject.String(), Thumbprint: hex.EncodeToString(sum[:]),
				ValidFrom: signer.NotBefore.UTC(), ValidTo: signer.NotAfter.UTC(), Kinds: kinds}
		}
	}

	// Expiry.
	if err := d.CheckTime(at); err != nil {
		add(CheckExpiry, ResultFail, hcert.Reason(err), err.Error())
	} else {
		add(CheckExpiry, ResultPass, "", "")
	}

	// DSC validity at signing time, and key usage.
	if signer == nil {
		add(CheckDSCValidity, ResultSkipped, "no-signer", "No trusted DSC verified the signature.")
		add(CheckKeyUsage, ResultSkipped, "no-signer", "No trusted DSC verified the signature.")
	} else {
		signedAt, what := d.Claims.IssuedAt, "issued (iat)"
		if signedAt.IsZero() {
			signedAt, what = at, "verified (no iat)"
		}
		if signedAt.Before(signer.NotBefore) || signedAt.After(signer.NotAfter) {
			add(CheckDSCValidity, ResultFail, hcert.Reason(hcert.ErrDSCValidity),
				fmt.Sprintf("The DSC is valid %s to %s; the certificate was %s %s.", signer.NotBefore.UTC().Format(time.RFC3339),
					signer.NotAfter.UTC().Format(time.RFC3339), what, signedAt.UTC().Format(time.RFC3339)))
		} else {
			add(CheckDSCValidity, ResultPass, "", "")
		}
		switch {
		case d.Kind() == dcc.KindUnknown:
			add(CheckKeyUsage, ResultFail, hcert.Reason(hcert.ErrPayload), "The payload holds not exactly one of v, t and r.")
		case !keys.Allows(signer, d.Kind()):
			add(CheckKeyUsage, ResultFail, hcert.Reason(hcert.ErrKeyUsage),
				fmt.Sprintf("The DSC's extended key usages do not allow %s certificates.", d.Kind()))
		default:
			add(CheckKeyUsage, ResultPass, "", "")
		}
	}

	// Revocation: this service's list, for certificates signed by its DSCs.
	if err := s.checkRevocation(ctx, d, own, list, add); err != nil {
		return Verification{}, err
	}

	// Schema and value sets.
	schema, err := s.schema()
	switch {
	case err != nil:
		return Verification{}, fmt.Errorf("DCC schema: %w", err)
	case v.Payload == nil:
		add(CheckSchema, ResultFail, "schema", "The payload has no JSON form.")
	default:
		if err := schema.ValidateJSON(v.Payload); err != nil {
			add(CheckSchema, ResultFail, "schema", err.Error())
		} else {
			add(CheckSchema, ResultPass, "", "")
		}
	}
	if err := d.Claims.Payload.ValidateCodes(s.catalogue); err != nil {
		add(CheckValueSets, ResultFail, "value-set", err.Error())
	} else {
		add(CheckValueSets, ResultPass, "", "")
	}

	v.Valid = true
	for _, f := range v.Findings {
		// Another issuer's revocations are that issuer's to publish: not checking them here
		// does not make the certificate invalid.
		if f.Result != ResultPass && !(f.Check == CheckRevocation && f.Code == codeNotThisIssuer) {
			v.Valid = false
		}
	}
	return v, nil
}

// checkRevocation adds the revocation finding: looked up by the three EU hashes in this
// service's list when the kid is one of this service's DSCs, skipped otherwise.
func (s *Revocations) checkRevocation(ctx context.Context, d *hcert.Decoded, own bool, list *trust.List, add func(check, result, code, detail string)) error {
	ours := own && len(list.Lookup(d.KID)) > 0
	if !own {
		mine, err := s.TrustList(ctx)
		if err != nil {
			return err
		}
		ours = len(mine.Lookup(d.KID)) > 0
	}
	if !ours {
		add(CheckRevocation, ResultSkipped, codeNotThisIssuer,
			"The certificate was not signed by this service; its issuer's revocation list applies.")
		return nil
	}
	h, err := revocation.Of(d)
	if err != nil {
		add(CheckRevocation, ResultFail, "revocation-hash", err.Error())
		return nil
	}
	rl, err := s.RevocationList(ctx)
	if err != nil {
		return err
	}
	if rl.Contains(d.KID, h) {
		add(CheckRevocation, ResultFail, "revoked", "This service has revoked the certificate.")
	} else {
		add(CheckRevocation, ResultPass, "", "")
	}
	return nil
}
