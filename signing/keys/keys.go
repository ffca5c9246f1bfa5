// Package keys creates and loads the Document Signer (DSC) key and certificate behind a
// crypto.Signer, writes certificate signing requests for a national CSCA, and knows the DCC
// extended key usages and key identifiers.
package keys

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/sedcc/dcc/signing/dcc"
)

// File names inside a key directory (Generate, GenerateCSR, LoadOrCreate).
const (
	KeyFile  = "dsc.key" // PEM "PRIVATE KEY" (PKCS #8), mode 0600
	CertFile = "dsc.crt" // PEM "CERTIFICATE", the DSC
	CSRFile  = "dsc.csr" // PEM "CERTIFICATE REQUEST", for a national CSCA
)

// The DCC extended key usages (eHN DCC technical specification, volume 1, section 5.1.1): a DSC
// that carries any of them may sign only the kinds it lists.
var (
	OIDTest        = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 1847, 2021, 1, 1}
	OIDVaccination = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 1847, 2021, 1, 2}
	OIDRecovery    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 1847, 2021, 1, 3}
	// The variants below, with an extra 0 arc, were issued by some countries in 2021 and are
	// honoured when verifying.
	OIDTestAlt        = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 0, 1847, 2021, 1, 1}
	OIDVaccinationAlt = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 0, 1847, 2021, 1, 2}
	OIDRecoveryAlt    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 0, 1847, 2021, 1, 3}
)

var oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}

// ErrKeyMismatch is returned when the private key does not belong to the certificate.
var ErrKeyMismatch = errors.New("keys: private key does not match the certificate")

// KIDLength is the length of a DCC key identifier.
const KIDLength = 8

// KID returns the DCC key identifier of a DSC: the first 8 bytes of SHA-256 over its DER.
func KID(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.Raw)
	return sum[:KIDLength]
}

// Allows reports whether the DSC's extended key usage permits signing certificates of kind k.
// A DSC with none of the DCC usages (either OID form) allows every kind.
func Allows(cert *x509.Certificate, k dcc.Kind) bool {
	var listed, t, v, r bool
	for _, oid := range cert.UnknownExtKeyUsage {
		switch {
		case oid.Equal(OIDTest) || oid.Equal(OIDTestAlt):
			listed, t = true, true
		case oid.Equal(OIDVaccination) || oid.Equal(OIDVaccinationAlt):
			listed, v = true, true
		case oid.Equal(OIDRecovery) || oid.Equal(OIDRecoveryAlt):
			listed, r = true, true
		}
	}
	if !listed {
		return true
	}
	switch k {
	case dcc.KindTest:
		return t
	case dcc.KindVaccination:
		return v
	case dcc.KindRecovery:
		return r
	}
	return false
}

// Options describe the DSC subject and validity. The zero value is a Swedish development DSC
// valid for two years from Now (or the current time when Now is zero).
type Options struct {
	Country      string        // subject C, default "SE"
	Organization string        // subject O, default "Development DCC issuer"
	CommonName   string        // subject CN, default "DCC development DSC"
	Now          time.Time     // start of validity
	Validity     time.Duration // default 2 years
	// Kinds are the certificate kinds the DSC (or CSR) names in its DCC extended key usages;
	// empty: all three.
	Kinds []dcc.Kind
}

// ExtKeyUsages returns the DCC extended key usage OIDs for kinds (all three when empty).
func ExtKeyUsages(kinds ...dcc.Kind) []asn1.ObjectIdentifier {
	if len(kinds) == 0 {
		kinds = []dcc.Kind{dcc.KindTest, dcc.KindVaccination, dcc.KindRecovery}
	}
	var out []asn1.ObjectIdentifier
	for _, k := range kinds {
		switch k {
		case dcc.KindTest:
			out = append(out, OIDTest)
		case dcc.KindVaccination:
			out = append(out, OIDVaccination)
		case dcc.KindRecovery:
			out = append(out, OIDRecovery)
		}
	}
	return out
}

// Kinds returns the kinds a DSC may sign, from its DCC extended key usages (either OID form);
// all three when it carries none of them.
func Kinds(cert *x509.Certificate) []dcc.Kind {
	var out []dcc.Kind
	for _, k := range []dcc.Kind{dcc.KindTest, dcc.KindVaccination, dcc.KindRecovery} {
		if Allows(cert, k) {
			out = append(out, k)
		}
	}
	return out
}

func (o Options) withDefaults() Options {
	o.Country = cmp.Or(o.Country, "SE")
	o.Organization = cmp.Or(o.Organization, "Development DCC issuer")
	o.CommonName = cmp.Or(o.CommonName, "DCC development DSC")
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Validity = cmp.Or(o.Validity, 2*365*24*time.Hour)
	return o
}

func (o Options) subject() pkix.Name {
	return pkix.Name{Country: []string{o.Country}, Organization: []string{o.Organization}, CommonName: o.CommonName}
}

// NewKey generates an ECDSA P-256 key, the key type the DCC specification prefers.
func NewKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate P-256 key: %w", err)
	}
	return k, nil
}

// SelfSigned issues a self-signed DSC for key, with the DCC extended key usages of opts.Kinds
// (all three by default). It is
// meant for development: verifiers trust it only by its entry in the trust list.
func SelfSigned(key crypto.Signer, opts Options) (*x509.Certificate, error) {
	opts = opts.withDefaults()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		Subject:            opts.subject(),
		NotBefore:          opts.Now.Add(-time.Minute).UTC(),
		NotAfter:           opts.Now.Add(opts.Validity).UTC(),
		KeyUsage:           x509.KeyUsageDigitalSignature,
		UnknownExtKeyUsage: ExtKeyUsages(opts.Kinds...),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create DSC: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new DSC: %w", err)
	}
	return cert, nil
}

// CSR returns a PEM certificate signing request for key, asking for the DCC extended key usages
// of opts.Kinds (all three by default), to send to the national CSCA.
func CSR(key crypto.Signer, opts Options) ([]byte, error) {
	opts = opts.withDefaults()
	eku, err := asn1.Marshal(ExtKeyUsages(opts.Kinds...))
	if err != nil {
		return nil, fmt.Errorf("encode extended key usage: %w", err)
	}
	tmpl := &x509.CertificateRequest{
		Subject:         opts.subject(),
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Value: eku}},
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// EncodeKey returns key as a PEM "PRIVATE KEY" (PKCS #8) block.
func EncodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// EncodeCertificate returns cert as a PEM "CERTIFICATE" block.
func EncodeCertificate(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// Generate creates dir if needed and writes a new P-256 key (KeyFile, mode 0600) and a
// self-signed DSC (CertFile). It refuses to overwrite existing files.
func Generate(dir string, opts Options) (crypto.Signer, *x509.Certificate, error) {
	key, err := NewKey()
	if err != nil {
		return nil, nil, err
	}
	cert, err := SelfSigned(key, opts)
	if err != nil {
		return nil, nil, err
	}
	if err := writeKeyWith(dir, key, CertFile, EncodeCertificate(cert)); err != nil {
		return nil, nil, err
	}
	return key, cert, nil
}

// writeKeyWith creates dir if needed and writes key (KeyFile, mode 0600) and beside it the public
// companion (name: the DSC or a CSR), refusing to overwrite either.
func writeKeyWith(dir string, key crypto.Signer, name string, companion []byte) error {
	keyPEM, err := EncodeKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create key directory: %w", err)
	}
	if err := writeNew(filepath.Join(dir, KeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	return writeNew(filepath.Join(dir, name), companion, 0o644)
}

// GenerateCSR creates dir if needed and writes a new P-256 key (KeyFile, mode 0600) and a CSR
// for it (CSRFile). Once the CSCA has issued the DSC, store it as CertFile beside the key.
func GenerateCSR(dir string, opts Options) (crypto.Signer, []byte, error) {
	key, err := NewKey()
	if err != nil {
		return nil, nil, err
	}
	csr, err := CSR(key, opts)
	if err != nil {
		return nil, nil, err
	}
	if err := writeKeyWith(dir, key, CSRFile, csr); err != nil {
		return nil, nil, err
	}
	return key, csr, nil
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// LoadOrCreate loads KeyFile and CertFile from dir, or, when neither exists, generates them
// with Generate. One file without the other is an error rather than a silent replacement.
func LoadOrCreate(dir string, opts Options) (crypto.Signer, *x509.Certificate, error) {
	keyPath, certPath := filepath.Join(dir, KeyFile), filepath.Join(dir, CertFile)
	_, kerr := os.Stat(keyPath)
	_, cerr := os.Stat(certPath)
	switch {
	case errors.Is(kerr, fs.ErrNotExist) && errors.Is(cerr, fs.ErrNotExist):
		return Generate(dir, opts)
	case kerr == nil && cerr == nil:
		return Load(keyPath, certPath)
	case kerr != nil && !errors.Is(kerr, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("stat %s: %w", keyPath, kerr)
	case cerr != nil && !errors.Is(cerr, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("stat %s: %w", certPath, cerr)
	}
	return nil, nil, fmt.Errorf("key directory %s holds only one of %s and %s", dir, KeyFile, CertFile)
}

// Load reads a PEM private key (PKCS #8, SEC 1 "EC PRIVATE KEY" or PKCS #1 "RSA PRIVATE KEY")
// and the PEM DSC, and checks that they belong together.
func Load(keyPath, certPath string) (crypto.Signer, *x509.Certificate, error) {
	if err := CheckPrivate(keyPath); err != nil {
		return nil, nil, err
	}
	raw, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("read key: %w", err)
	}
	key, err := ParseKey(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	cert, err := LoadCertificate(certPath)
	if err != nil {
		return nil, nil, err
	}
	if err := Match(key, cert); err != nil {
		return nil, nil, fmt.Errorf("%s and %s: %w", keyPath, certPath, err)
	}
	return key, cert, nil
}

// Match returns ErrKeyMismatch unless key's public half is the certificate's public key.
func Match(key crypto.Signer, cert *x509.Certificate) error {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	if !ok || !pub.Equal(cert.PublicKey) {
		return ErrKeyMismatch
	}
	return nil
}

// ParseKey parses the first PEM private key block in raw.
func ParseKey(raw []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, raw = pem.Decode(raw)
		if block == nil {
			return nil, errors.New("no PEM private key found")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", block.Type, err)
		}
		switch k := key.(type) {
		case *ecdsa.PrivateKey:
			return k, nil
		case *rsa.PrivateKey:
			return k, nil
		}
		return nil, fmt.Errorf("unsupported private key type %T (want ECDSA or RSA)", key)
	}
}

// LoadCertificate reads the first certificate of a PEM (or DER) file.
func LoadCertificate(path string) (*x509.Certificate, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	certs, err := ParseCertificates(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs[0], nil
}

// ParseCertificates parses every PEM "CERTIFICATE" block in raw, or raw as one DER certificate
// when it holds no PEM.
func ParseCertificates(raw []byte) ([]*x509.Certificate, error) {
	if !bytes.Contains(raw, []byte("-----BEGIN")) {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("parse DER certificate: %w", err)
		}
		return []*x509.Certificate{c}, nil
	}
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, raw = pem.Decode(raw)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// CheckPrivate refuses a secret file (a private key, the subject key, a PIN) that another user
// could read or replace: one with any group or other permission bit, or one in a directory that
// others may write to. The error names the file and the chmod that fixes it.
func CheckPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("secret file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s is open to group or others (mode %04o); only its owner may read it: run `chmod 600 %s`", path, perm, path)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("secret file %s: %w", path, err)
	}
	di, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("secret file %s: %w", path, err)
	}
	if perm := di.Mode().Perm(); perm&0o002 != 0 {
		return fmt.Errorf("%s is in %s, which others may write to (mode %04o), so it could be replaced: move it, or run `chmod o-w %s`", path, dir, perm, dir)
	}
	return nil
}
