package issuer

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/registry/pnr"
)

// notYours answers a citizen's request for a certificate that does not exist or is another
// person's: the two are indistinguishable, so a UVCI reveals nothing about whom it belongs to.
func notYours() problem.List {
	return problem.New(problem.CodeNotFound, "", "You have no certificate with this UVCI. List yours at /api/v1/me/certificates.")
}

// CertificatesOf lists the certificates issued to the person, newest first. Only the keyed
// hash of the number reaches the store.
func (s *Service) CertificatesOf(ctx context.Context, n pnr.Number) ([]Certificate, error) {
	if n.IsZero() {
		return nil, errors.New("certificates of: no personnummer")
	}
	certs, err := s.store.CertificatesBySubject(ctx, s.SubjectKeyFor(n.Digits()))
	if err != nil {
		return nil, s.unavailableStore(fmt.Errorf("certificates of %s: %w", n, err))
	}
	return certs, nil
}

// CertificateOf returns the person's certificate with the UVCI and its decoded payload; a
// not-found problem when there is none or it belongs to someone else.
func (s *Service) CertificateOf(ctx context.Context, n pnr.Number, uvci string) (Issued, error) {
	if n.IsZero() {
		return Issued{}, errors.New("certificate of: no personnummer")
	}
	c, err := s.store.CertificateByUVCI(ctx, uvci)
	switch {
	case errors.Is(err, ErrNotFound):
		return Issued{}, notYours()
	case err != nil:
		return Issued{}, s.unavailableStore(fmt.Errorf("certificate %s: %w", uvci, err))
	}
	if len(c.SubjectKey) == 0 || !hmac.Equal(c.SubjectKey, s.SubjectKeyFor(n.Digits())) {
		return Issued{}, notYours()
	}
	return s.issued(c, false)
}
