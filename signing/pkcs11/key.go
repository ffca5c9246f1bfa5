package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"sync"

	p11 "github.com/miekg/pkcs11"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// oidP256 names the curve in CKA_EC_PARAMS (prime256v1, RFC 5480).
var oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}

// Key is an ECDSA P-256 private key inside the token, found by its label. It implements
// crypto.Signer: Sign takes a SHA-256 digest and returns an ASN.1 DER signature, as
// crypto/ecdsa does (the COSE layer turns it into the fixed-width r||s form). It is safe for
// concurrent use.
type Key struct {
	token *Token
	label string
	pub   *ecdsa.PublicKey

	mu     sync.Mutex
	gen    uint64           // connection generation the cached handle belongs to
	handle p11.ObjectHandle // 0 until first found
}

// Key finds the private key labelled label and reads its public half.
func (t *Token) Key(ctx context.Context, label string) (*Key, error) {
	k := &Key{token: t, label: label}
	err := t.withSession(ctx, func(s session) error {
		h, err := t.findOne(s, p11.CKO_PRIVATE_KEY, label)
		if err != nil {
			return err
		}
		pub, err := t.publicKey(s, label)
		if err != nil {
			return err
		}
		k.pub, k.handle, k.gen = pub, h, s.gen
		return nil
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// Label is the key's label in the token.
func (k *Key) Label() string { return k.label }

// Public returns the *ecdsa.PublicKey.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// Sign signs a SHA-256 digest inside the token (CKM_ECDSA). Failures wrap ErrUnavailable
// when the token cannot be reached; the connection is rebuilt on the next call.
func (k *Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts != nil && opts.HashFunc() != crypto.SHA256 && opts.HashFunc() != 0 {
		return nil, fmt.Errorf("pkcs11: key %q signs SHA-256 digests, not %s", k.label, opts.HashFunc())
	}
	if len(digest) != 32 {
		return nil, fmt.Errorf("pkcs11: digest of %d bytes, want 32 (SHA-256)", len(digest))
	}
	var raw []byte
	err := k.token.withSession(context.Background(), func(s session) error {
		h, err := k.handleFor(s)
		if err != nil {
			return err
		}
		if err := k.token.lib.SignInit(s.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_ECDSA, nil)}, h); err != nil {
			return err
		}
		raw, err = k.token.lib.Sign(s.h, digest)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: sign with key %q: %w", k.label, err)
	}
	if len(raw) != 64 {
		return nil, fmt.Errorf("pkcs11: key %q returned a signature of %d bytes, want 64 (not a P-256 key)", k.label, len(raw))
	}
	return derSignature(raw[:32], raw[32:]), nil
}

// derSignature encodes r and s (big-endian, unsigned) as the ASN.1 DER
// SEQUENCE { r INTEGER, s INTEGER } that crypto.Signer returns for ECDSA.
func derSignature(r, s []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addUnsigned(b, r)
		addUnsigned(b, s)
	})
	return b.BytesOrPanic()
}

// addUnsigned adds the big-endian unsigned integer v as a DER INTEGER (minimal length, a leading
// zero byte when the top bit is set).
func addUnsigned(b *cryptobyte.Builder, v []byte) {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) {
		if len(v) > 0 && v[0]&0x80 != 0 {
			b.AddUint8(0)
		}
		b.AddBytes(v)
	})
}

// handleFor returns the private key's object handle. The handle is found once per connection:
// a reconnection may renumber the token's objects, so the handle is found again by label, and
// the key found must still be the one whose public half Public returned (a token re-initialised
// with a new key under the same label would otherwise sign certificates its DSC does not verify).
func (k *Key) handleFor(s session) (p11.ObjectHandle, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.gen == s.gen && k.handle != 0 {
		return k.handle, nil
	}
	h, err := k.token.findOne(s, p11.CKO_PRIVATE_KEY, k.label)
	if err != nil {
		return 0, err
	}
	if k.handle != 0 {
		// Found again after a reconnection: check it is the same key pair.
		pub, err := k.token.publicKey(s, k.label)
		if err != nil {
			return 0, err
		}
		if !pub.Equal(k.pub) {
			return 0, fmt.Errorf("%w: key %q in token %q is not the key loaded at start (token re-initialised, or a new key under the label): restart the service after checking its DSC",
				ErrKeyChanged, k.label, k.token.cfg.Token)
		}
	}
	k.handle, k.gen = h, s.gen
	return h, nil
}

// findAll returns the objects of class with the label (any label when label is empty).
func (t *Token) findAll(s session, class uint, label string) ([]p11.ObjectHandle, error) {
	tmpl := []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, class)}
	if label != "" {
		tmpl = append(tmpl, p11.NewAttribute(p11.CKA_LABEL, label))
	}
	if err := t.lib.FindObjectsInit(s.h, tmpl); err != nil {
		return nil, err
	}
	var out []p11.ObjectHandle
	for {
		hs, _, err := t.lib.FindObjects(s.h, 64)
		if err != nil {
			_ = t.lib.FindObjectsFinal(s.h)
			return nil, err
		}
		if len(hs) == 0 {
			break
		}
		out = append(out, hs...)
	}
	if err := t.lib.FindObjectsFinal(s.h); err != nil {
		return nil, err
	}
	return out, nil
}

func (t *Token) findOne(s session, class uint, label string) (p11.ObjectHandle, error) {
	hs, err := t.findAll(s, class, label)
	if err != nil {
		return 0, err
	}
	switch len(hs) {
	case 0:
		return 0, fmt.Errorf("%w: no %s labelled %q in token %q", ErrKeyNotFound, className(class), label, t.cfg.Token)
	case 1:
		return hs[0], nil
	}
	return 0, fmt.Errorf("pkcs11: %d objects of class %s labelled %q in token %q; labels must be unique", len(hs), className(class), label, t.cfg.Token)
}

func className(class uint) string {
	switch class {
	case p11.CKO_PRIVATE_KEY:
		return "private key"
	case p11.CKO_PUBLIC_KEY:
		return "public key"
	case p11.CKO_CERTIFICATE:
		return "certificate"
	}
	return fmt.Sprintf("class %d", class)
}

// publicKey reads the public key object labelled label.
func (t *Token) publicKey(s session, label string) (*ecdsa.PublicKey, error) {
	h, err := t.findOne(s, p11.CKO_PUBLIC_KEY, label)
	if err != nil {
		return nil, err
	}
	attrs, err := t.lib.GetAttributeValue(s.h, h, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_EC_PARAMS, nil), p11.NewAttribute(p11.CKA_EC_POINT, nil)})
	if err != nil {
		return nil, err
	}
	var params, point []byte
	for _, a := range attrs {
		switch a.Type {
		case p11.CKA_EC_PARAMS:
			params = a.Value
		case p11.CKA_EC_POINT:
			point = a.Value
		}
	}
	var curve asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(params, &curve); err != nil || !curve.Equal(oidP256) {
		return nil, fmt.Errorf("pkcs11: key %q is not an ECDSA P-256 key", label)
	}
	// CKA_EC_POINT is a DER OCTET STRING holding the uncompressed point; some tokens omit the
	// wrapping.
	var inner []byte
	if rest, err := asn1.Unmarshal(point, &inner); err == nil && len(rest) == 0 {
		point = inner
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: public key %q: %w", label, err)
	}
	return pub, nil
}

// Generate creates an ECDSA P-256 key pair inside the token under label: the private key is
// sensitive and never extractable. It refuses a label already in use.
func (t *Token) Generate(ctx context.Context, label string) (*Key, error) {
	if label == "" {
		return nil, errors.New("pkcs11: a key needs a label")
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("pkcs11: key id: %w", err)
	}
	params, err := asn1.Marshal(oidP256)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: curve: %w", err)
	}
	err = t.withSession(ctx, func(s session) error {
		for _, class := range []uint{p11.CKO_PRIVATE_KEY, p11.CKO_PUBLIC_KEY, p11.CKO_CERTIFICATE} {
			hs, err := t.findAll(s, class, label)
			if err != nil {
				return err
			}
			if len(hs) > 0 {
				return fmt.Errorf("pkcs11: token %q already holds a %s labelled %q", t.cfg.Token, className(class), label)
			}
		}
		pubTmpl := []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
			p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_EC),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_VERIFY, true),
			p11.NewAttribute(p11.CKA_EC_PARAMS, params),
			p11.NewAttribute(p11.CKA_LABEL, label),
			p11.NewAttribute(p11.CKA_ID, id),
		}
		privTmpl := []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
			p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_EC),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_PRIVATE, true),
			p11.NewAttribute(p11.CKA_SIGN, true),
			p11.NewAttribute(p11.CKA_SENSITIVE, true),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
			p11.NewAttribute(p11.CKA_LABEL, label),
			p11.NewAttribute(p11.CKA_ID, id),
		}
		_, _, err := t.lib.GenerateKeyPair(s.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_EC_KEY_PAIR_GEN, nil)}, pubTmpl, privTmpl)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: generate key %q: %w", label, err)
	}
	return t.Key(ctx, label)
}

// ImportCertificate stores cert (the DSC issued for the key labelled label) in the token
// beside the key, under the same label and id. The certificate's public key must be the key's;
// an existing certificate with the label is not replaced.
func (t *Token) ImportCertificate(ctx context.Context, label string, cert *x509.Certificate) error {
	key, err := t.Key(ctx, label)
	if err != nil {
		return err
	}
	if !key.pub.Equal(cert.PublicKey) {
		return fmt.Errorf("pkcs11: the certificate's public key is not the key %q of token %q", label, t.cfg.Token)
	}
	serial, err := asn1.Marshal(cert.SerialNumber)
	if err != nil {
		return fmt.Errorf("pkcs11: serial number: %w", err)
	}
	err = t.withSession(ctx, func(s session) error {
		hs, err := t.findAll(s, p11.CKO_CERTIFICATE, label)
		if err != nil {
			return err
		}
		if len(hs) > 0 {
			return fmt.Errorf("pkcs11: token %q already holds a certificate labelled %q", t.cfg.Token, label)
		}
		ph, err := t.findOne(s, p11.CKO_PRIVATE_KEY, label)
		if err != nil {
			return err
		}
		attrs, err := t.lib.GetAttributeValue(s.h, ph, []*p11.Attribute{p11.NewAttribute(p11.CKA_ID, nil)})
		if err != nil {
			return err
		}
		_, err = t.lib.CreateObject(s.h, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_CERTIFICATE),
			p11.NewAttribute(p11.CKA_CERTIFICATE_TYPE, p11.CKC_X_509),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_PRIVATE, false),
			p11.NewAttribute(p11.CKA_LABEL, label),
			p11.NewAttribute(p11.CKA_ID, attrs[0].Value),
			p11.NewAttribute(p11.CKA_SUBJECT, cert.RawSubject),
			p11.NewAttribute(p11.CKA_ISSUER, cert.RawIssuer),
			p11.NewAttribute(p11.CKA_SERIAL_NUMBER, serial),
			p11.NewAttribute(p11.CKA_VALUE, cert.Raw),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("pkcs11: import certificate %q: %w", label, err)
	}
	return nil
}

// Certificate returns the certificate labelled label (ErrKeyNotFound when there is none).
func (t *Token) Certificate(ctx context.Context, label string) (*x509.Certificate, error) {
	var cert *x509.Certificate
	err := t.withSession(ctx, func(s session) error {
		h, err := t.findOne(s, p11.CKO_CERTIFICATE, label)
		if err != nil {
			return err
		}
		cert, err = t.readCertificate(s, h)
		return err
	})
	if err != nil {
		return nil, err
	}
	return cert, nil
}

func (t *Token) readCertificate(s session, h p11.ObjectHandle) (*x509.Certificate, error) {
	attrs, err := t.lib.GetAttributeValue(s.h, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(attrs[0].Value)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: parse certificate in token %q: %w", t.cfg.Token, err)
	}
	return cert, nil
}

// Entry describes one label in the token: its key pair (if not retired) and its DSC (if
// imported).
type Entry struct {
	Label       string
	PrivateKey  bool              // false once retired
	Certificate *x509.Certificate // nil until a DSC is imported
}

// List returns every label that names a private key or a certificate, in the token's order.
func (t *Token) List(ctx context.Context) ([]Entry, error) {
	var out []Entry
	err := t.withSession(ctx, func(s session) error {
		out = out[:0]
		byLabel := map[string]int{}
		entry := func(label string) *Entry {
			i, ok := byLabel[label]
			if !ok {
				out = append(out, Entry{Label: label})
				i = len(out) - 1
				byLabel[label] = i
			}
			return &out[i]
		}
		keys, err := t.findAll(s, p11.CKO_PRIVATE_KEY, "")
		if err != nil {
			return err
		}
		for _, h := range keys {
			label, err := t.label(s, h)
			if err != nil {
				return err
			}
			entry(label).PrivateKey = true
		}
		certs, err := t.findAll(s, p11.CKO_CERTIFICATE, "")
		if err != nil {
			return err
		}
		for _, h := range certs {
			label, err := t.label(s, h)
			if err != nil {
				return err
			}
			c, err := t.readCertificate(s, h)
			if err != nil {
				return err
			}
			entry(label).Certificate = c
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: list token %q: %w", t.cfg.Token, err)
	}
	return out, nil
}

func (t *Token) label(s session, h p11.ObjectHandle) (string, error) {
	attrs, err := t.lib.GetAttributeValue(s.h, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_LABEL, nil)})
	if err != nil {
		return "", err
	}
	return string(attrs[0].Value), nil
}

// Retire destroys the key pair labelled label, so that it can never sign again. Its
// certificate stays in the token: verifiers need the DSC until the last certificate it signed
// has expired.
func (t *Token) Retire(ctx context.Context, label string) error {
	err := t.withSession(ctx, func(s session) error {
		priv, err := t.findOne(s, p11.CKO_PRIVATE_KEY, label)
		if err != nil {
			return err
		}
		if err := t.lib.DestroyObject(s.h, priv); err != nil {
			return err
		}
		pubs, err := t.findAll(s, p11.CKO_PUBLIC_KEY, label)
		if err != nil {
			return err
		}
		for _, h := range pubs {
			if err := t.lib.DestroyObject(s.h, h); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pkcs11: retire key %q: %w", label, err)
	}
	return nil
}
