package setup

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSConfig is the server's TLS configuration, or nil when dccd serves plain HTTP (no
// DCC_TLS_CERT_FILE). With DCC_TLS_CLIENT_CA_FILE, client certificates issued by those CAs are
// verified in the handshake: asked for and checked when sent, or required with
// DCC_TLS_CLIENT_CERT_REQUIRED. A certificate from any other CA fails the handshake.
func TLSConfig(cfg Config) (*tls.Config, error) {
	if cfg.TLSCertFile == "" {
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("DCC_TLS_CERT_FILE/DCC_TLS_KEY_FILE: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if cfg.TLSClientCAFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(cfg.TLSClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("DCC_TLS_CLIENT_CA_FILE: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("DCC_TLS_CLIENT_CA_FILE %s: no PEM certificate in it", cfg.TLSClientCAFile)
	}
	c.ClientCAs = pool
	c.ClientAuth = tls.VerifyClientCertIfGiven
	if cfg.TLSClientCertRequired {
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c, nil
}
