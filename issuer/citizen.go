package issuer

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/registry/pnr"
)

// CitizenView is what a citizen may read: their own certificates, found by the keyed hash of
// their personnummer. It takes only the citizens' half of the store.
type CitizenView struct {
	store CitizenReader
	svc   *Service
	// sandbox also shows the person's sandbox certificates (development and test set-ups, where
	// providers issue with sandbox credentials); production services leave it off.
	sandbox bool
}

// NewCitizenView builds the citizens' read side over the store's citizen half. With sandbox
// set, a person also sees certificates issued to their number with sandbox credentials.
func NewCitizenView(st CitizenReader, svc *Service, sandbox bool) *CitizenView {
	return &CitizenView{store: st, svc: svc, sandbox: sandbox}
}

// notYours answers a citizen's request for a certificate that does not exist or is another
// person's: the two are indistinguishable, so a UVCI reveals nothing about whom it belongs to.
func notYours() problem.List {
	return problem.New(problem.CodeNotFound, "", "You have no certificate with this UVCI. List yours at /api/v1/me/certificates.")
}

// keys are the subject keys a person's certificates are stored under in the view.
func (v *CitizenView) keys(n pnr.Number) [][]byte {
	keys := [][]byte{v.svc.subjectKeyIn(Production, n.Digits())}
	if v.sandbox {
		keys = append(keys, v.svc.subjectKeyIn(Sandbox, n.Digits()))
	}
	return keys
}

// Owns reports whether a certificate stored under subjectKey is the person's.
func (v *CitizenView) Owns(n pnr.Number, subjectKey []byte) bool {
	if len(subjectKey) == 0 || n.IsZero() {
		return false
	}
	for _, k := range v.keys(n) {
		if hmac.Equal(k, subjectKey) {
			return true
		}
	}
	return false
}

// CitizenCertificate is one of a person's certificates as their own pages show it.
type CitizenCertificate struct {
	Certificate
	// Revoked: the issuer has withdrawn it (a revocation is recorded for its UVCI).
	Revoked bool
}

// CertificatesOf lists the certificates issued to the person, newest first, each with whether
// it is revoked. Only keyed hashes of the number reach the store, and every read goes to the
// citizens' store (the read pool, where there is one).
func (v *CitizenView) CertificatesOf(ctx context.Context, n pnr.Number) ([]CitizenCertificate, error) {
	if n.IsZero() {
		return nil, errors.New("certificates of: no personnummer")
	}
	var all []Certificate
	for _, k := range v.keys(n) {
		certs, err := v.store.CertificatesBySubject(ctx, k)
		if err != nil {
			return nil, v.svc.unavailableStore(fmt.Errorf("certificates of a citizen: %w", err))
		}
		all = append(all, certs...)
	}
	// The store's order (issued_at, then UVCI, both descending), across the keys.
	slices.SortStableFunc(all, func(a, b Certificate) int {
		if c := b.IssuedAt.Compare(a.IssuedAt); c != 0 {
			return c
		}
		return strings.Compare(b.UVCI, a.UVCI)
	})
	uvcis := make([]string, len(all))
	for i, c := range all {
		uvcis[i] = c.UVCI
	}
	revoked, err := v.store.RevokedAmong(ctx, uvcis)
	if err != nil {
		return nil, v.svc.unavailableStore(fmt.Errorf("revocations of a citizen's certificates: %w", err))
	}
	list := make([]CitizenCertificate, len(all))
	for i, c := range all {
		list[i] = CitizenCertificate{Certificate: c, Revoked: revoked[c.UVCI]}
	}
	return list, nil
}

// IsRevoked reports whether the person's certificate with the UVCI is revoked.
func (v *CitizenView) IsRevoked(ctx context.Context, uvci string) (bool, error) {
	revoked, err := v.store.RevokedAmong(ctx, []string{uvci})
	if err != nil {
		return false, v.svc.unavailableStore(fmt.Errorf("revocation of %s: %w", uvci, err))
	}
	return revoked[uvci], nil
}

// CertificateOf returns the person's certificate with the UVCI and its decoded payload; a
// not-found problem when there is none or it belongs to someone else.
func (v *CitizenView) CertificateOf(ctx context.Context, n pnr.Number, uvci string) (Issued, error) {
	if n.IsZero() {
		return Issued{}, errors.New("certificate of: no personnummer")
	}
	c, err := v.store.CertificateByUVCI(ctx, uvci)
	switch {
	case errors.Is(err, ErrNotFound):
		return Issued{}, notYours()
	case err != nil:
		return Issued{}, v.svc.unavailableStore(fmt.Errorf("certificate %s: %w", uvci, err))
	}
	if !v.Owns(n, c.SubjectKey) {
		return Issued{}, notYours()
	}
	return v.svc.issued(c, false)
}
