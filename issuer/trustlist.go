package issuer

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"github.com/sedcc/dcc/signing/trust"
)

// environments in the order the service lists them.
var environments = []Environment{Production, Sandbox}

// RecordSigningCertificates remembers the DSCs the service signs with now, so that the trust
// list keeps naming them after they are retired. Starting the service calls it; recording a
// known DSC changes nothing.
func (s *Revocations) RecordSigningCertificates(ctx context.Context) error {
	for _, env := range environments {
		sg := s.signers[env]
		if sg == nil {
			continue
		}
		err := s.store.RecordSigningCertificate(ctx, SigningCertificate{
			Environment: env, Certificate: sg.Certificate().Raw, FirstUsedAt: s.now().UTC(),
		})
		if err != nil {
			return fmt.Errorf("record %s DSC: %w", env, err)
		}
	}
	return nil
}

// RunRecordSigningCertificates calls RecordSigningCertificates until it succeeds or ctx ends,
// waiting every between attempts: a service that starts while its store is unreachable
// remembers its DSCs once the store answers. The trust list names the current DSCs meanwhile.
func (s *Revocations) RunRecordSigningCertificates(ctx context.Context, every time.Duration) {
	for {
		err := s.RecordSigningCertificates(ctx)
		if err == nil {
			return
		}
		s.log.WarnContext(ctx, "signing certificates not recorded yet; retrying", "err", err, "retry_in", every)
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// TrustList is every DSC the service has signed with: the current ones (status current) and
// the retired ones the store remembers (status retired), each with its kid, validity and the
// kinds its extended key usages allow.
func (s *Revocations) TrustList(ctx context.Context) (*trust.List, error) {
	stored, err := s.store.SigningCertificates(ctx)
	if err != nil {
		return nil, s.unavailableOr(fmt.Errorf("trust list: %w", err))
	}
	l := &trust.List{}
	var current [][]byte
	for _, env := range environments {
		if sg := s.signers[env]; sg != nil {
			l.AddStatus(sg.Certificate(), string(env), trust.StatusCurrent)
			current = append(current, sg.Certificate().Raw)
		}
	}
	for _, c := range stored {
		if slices.ContainsFunc(current, func(der []byte) bool { return bytes.Equal(der, c.Certificate) }) {
			continue
		}
		cert, err := x509.ParseCertificate(c.Certificate)
		if err != nil {
			// A stored DSC that no longer parses is left out rather than failing the list.
			s.log.ErrorContext(ctx, "stored signing certificate does not parse", "environment", c.Environment, "err", err)
			continue
		}
		l.AddStatus(cert, string(c.Environment), trust.StatusRetired)
	}
	return l, nil
}

// SignDocument signs a published document with the production DSC's key (the sandbox one when
// the service has no production key): a detached COSE_Sign1 (hcert.Signer.SignDetached).
func (s *Revocations) SignDocument(content []byte) ([]byte, error) {
	for _, env := range environments {
		if sg := s.signers[env]; sg != nil {
			sig, err := sg.SignDetached(content)
			if err != nil {
				return nil, fmt.Errorf("sign document with the %s DSC: %w", env, err)
			}
			return sig, nil
		}
	}
	return nil, fmt.Errorf("sign document: no signer")
}
