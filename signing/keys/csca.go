package keys

import (
	"cmp"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// ErrNotChained means the DSC is not signed by any of the configured CSCAs (or not valid at the
// time of the check).
var ErrNotChained = errors.New("keys: DSC does not chain to the configured CSCA")

// CSCAOptions describe a development Country Signing CA. The zero value is a Swedish CSCA valid
// for ten years from Now.
type CSCAOptions struct {
	Country    string        // default "SE"
	CommonName string        // default "DCC development CSCA"
	Now        time.Time     // default time.Now()
	Validity   time.Duration // default 10 years
}

// NewCSCA creates a self-signed CSCA certificate for key (a CA that may sign DSCs only: path
// length 0). It stands in for a national CSCA in development and tests.
func NewCSCA(key crypto.Signer, opts CSCAOptions) (*x509.Certificate, error) {
	opts.Country = cmp.Or(opts.Country, "SE")
	opts.CommonName = cmp.Or(opts.CommonName, "DCC development CSCA")
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	opts.Validity = cmp.Or(opts.Validity, 10*365*24*time.Hour)
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Country: []string{opts.Country}, CommonName: opts.CommonName},
		NotBefore:             opts.Now.Add(-time.Minute).UTC(),
		NotAfter:              opts.Now.Add(opts.Validity).UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CSCA: %w", err)
	}
	return x509.ParseCertificate(der)
}

// ParseCSR reads a PEM (or DER) certificate signing request and checks its signature.
func ParseCSR(raw []byte) (*x509.CertificateRequest, error) {
	if block, _ := pem.Decode(raw); block != nil {
		if block.Type != "CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("PEM block %q is not a CERTIFICATE REQUEST", block.Type)
		}
		raw = block.Bytes
	}
	csr, err := x509.ParseCertificateRequest(raw)
	if err != nil {
		return nil, fmt.Errorf("parse CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR signature: %w", err)
	}
	return csr, nil
}

// IssueDSC is what a CSCA does with a DSC request: it signs a certificate for the CSR's key and
// subject, valid from now for validity, with key usage digitalSignature and the DCC extended key
// usages the CSR asks for (all three when it asks for none).
func IssueDSC(csca crypto.Signer, cscaCert *x509.Certificate, csr *x509.CertificateRequest, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	if !cscaCert.IsCA {
		return nil, errors.New("issue DSC: the signing certificate is not a CA")
	}
	if err := Match(csca, cscaCert); err != nil {
		return nil, fmt.Errorf("issue DSC: CSCA key: %w", err)
	}
	ekus := []asn1.ObjectIdentifier{OIDTest, OIDVaccination, OIDRecovery}
	for _, ext := range csr.Extensions {
		if !ext.Id.Equal(oidExtKeyUsage) {
			continue
		}
		var asked []asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(ext.Value, &asked); err != nil {
			return nil, fmt.Errorf("issue DSC: CSR extended key usage: %w", err)
		}
		ekus = ekus[:0]
		for _, oid := range asked {
			if oid.Equal(OIDTest) || oid.Equal(OIDVaccination) || oid.Equal(OIDRecovery) {
				ekus = append(ekus, oid)
			}
		}
		if len(ekus) == 0 {
			return nil, errors.New("issue DSC: the CSR asks for no DCC extended key usage")
		}
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(validity).UTC()
	if notAfter.After(cscaCert.NotAfter) {
		notAfter = cscaCert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		Subject:            csr.Subject,
		NotBefore:          now.Add(-time.Minute).UTC(),
		NotAfter:           notAfter,
		KeyUsage:           x509.KeyUsageDigitalSignature,
		UnknownExtKeyUsage: ekus,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, cscaCert, csr.PublicKey, csca)
	if err != nil {
		return nil, fmt.Errorf("issue DSC: %w", err)
	}
	return x509.ParseCertificate(der)
}

// CheckDSC is the check made before a key signs: the DSC is signed by one of the CSCAs and valid
// at now, allows digital signatures, and carries pub, the public half of the signing key (for
// an HSM, the key as the token reports it).
func CheckDSC(dsc *x509.Certificate, cscas []*x509.Certificate, pub crypto.PublicKey, now time.Time) error {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if p, ok := pub.(equaler); !ok || !p.Equal(dsc.PublicKey) {
		return ErrKeyMismatch
	}
	if len(cscas) == 0 {
		return fmt.Errorf("%w: no CSCA configured", ErrNotChained)
	}
	roots := x509.NewCertPool()
	for _, c := range cscas {
		roots.AddCert(c)
	}
	if _, err := dsc.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("%w: %w", ErrNotChained, err)
	}
	if dsc.KeyUsage != 0 && dsc.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return errors.New("keys: DSC key usage does not allow digital signatures")
	}
	return nil
}

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return serial, nil
}
