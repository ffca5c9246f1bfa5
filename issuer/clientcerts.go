package issuer

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// A TLS client certificate is the alternative to a bearer key: the TLS layer verifies it against
// the configured client CAs, and it then authenticates the principal it is bound to, by the
// SHA-256 of its DER encoding. Binding by fingerprint (not by subject) means a CA issuing another
// certificate with the same name does not gain anyone's access; a renewed certificate is bound
// anew.

// CertFingerprint is the SHA-256 of a certificate's DER encoding, the key a binding is stored by.
func CertFingerprint(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.Raw)
	return sum[:]
}

// BindCert binds a client certificate to an existing provider. The certificate must be valid now
// and usable for TLS client authentication; the TLS layer verifies its chain on every connection.
func (c *Credentials) BindCert(ctx context.Context, principalID string, cert *x509.Certificate) (ClientCert, error) {
	p, err := c.store.Principal(ctx, principalID)
	if err != nil {
		return ClientCert{}, fmt.Errorf("principal %s: %w", principalID, err)
	}
	if p.Role != RoleProvider {
		return ClientCert{}, fmt.Errorf("principal %s is %s: only providers authenticate with a client certificate", principalID, p.Role)
	}
	now := c.now()
	if now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return ClientCert{}, fmt.Errorf("the certificate is valid from %s to %s, not now",
			cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if !clientAuthUsage(cert) {
		return ClientCert{}, errors.New("the certificate's extended key usage does not allow TLS client authentication")
	}
	cc := ClientCert{Fingerprint: CertFingerprint(cert), PrincipalID: p.ID, Subject: cert.Subject.String(),
		NotAfter: cert.NotAfter.UTC(), CreatedAt: now.UTC()}
	if err := c.store.CreateClientCert(ctx, cc); err != nil {
		return ClientCert{}, fmt.Errorf("bind certificate %s: %w", hex.EncodeToString(cc.Fingerprint), err)
	}
	return cc, nil
}

// RevokeCert ends a client certificate's binding at once.
func (c *Credentials) RevokeCert(ctx context.Context, fingerprint []byte) error {
	if err := c.store.RevokeClientCert(ctx, fingerprint, c.now().UTC()); err != nil {
		return fmt.Errorf("revoke certificate %s: %w", hex.EncodeToString(fingerprint), err)
	}
	if c.certs != nil {
		c.certs.Remove(string(fingerprint))
	}
	return nil
}

func clientAuthUsage(cert *x509.Certificate) bool {
	if len(cert.ExtKeyUsage) == 0 {
		return true
	}
	for _, u := range cert.ExtKeyUsage {
		if u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// AuthenticateCert returns the principal a verified TLS client certificate is bound to. The caller
// (the HTTP layer) passes only a certificate the TLS handshake verified against the client CAs.
// An unknown, revoked or expired certificate, or one of a disabled principal, gets the same answer
// as a bad bearer key.
func (c *Credentials) AuthenticateCert(ctx context.Context, cert *x509.Certificate) (Principal, error) {
	fp := CertFingerprint(cert)
	var cc cachedCert
	var hit bool
	if c.certs != nil {
		cc, hit = c.certs.Get(string(fp))
	}
	if !hit {
		b, err := c.store.ClientCert(ctx, fp)
		switch {
		case errors.Is(err, ErrNotFound):
			cc = cachedCert{unknown: true}
		case err != nil:
			return Principal{}, storeUnavailable(fmt.Errorf("load client certificate: %w", err), credentialRetryAfter)
		default:
			cc = cachedCert{cert: b}
			p, err := c.store.Principal(ctx, b.PrincipalID)
			if err != nil {
				return Principal{}, storeUnavailable(fmt.Errorf("load principal of a client certificate: %w", err), credentialRetryAfter)
			}
			cc.principal = p
		}
		if c.certs != nil {
			c.certs.Add(string(fp), cc)
		}
	}
	now := c.now()
	if cc.unknown || cc.cert.RevokedAt != nil || now.After(cc.cert.NotAfter) || now.After(cert.NotAfter) ||
		cc.principal.DisabledAt != nil {
		return Principal{}, unauthenticated()
	}
	return cc.principal, nil
}

// cachedCert is a binding as last read from the store, with its principal; unknown records that
// the store had none.
type cachedCert struct {
	cert      ClientCert
	principal Principal
	unknown   bool
}
