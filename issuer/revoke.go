package issuer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/revocation"
)

// RevokeRequest asks to revoke one certificate.
type RevokeRequest struct {
	UVCI      string
	Reason    RevocationReason
	Principal Principal
	RequestID string
	Route     string // e.g. "POST /api/v1/certificates/{uvci}/revoke"
	Received  time.Time
}

// Revoke revokes a certificate: the provider that issued it or a support administrator may; a
// repeat returns the first revocation (created false) and changes nothing. Every call is
// audited, refusals included, under the certificate's UVCI when there is one.
func (s *Revocations) Revoke(ctx context.Context, req RevokeRequest) (Revocation, bool, error) {
	ev := AuditEvent{RequestID: req.RequestID, PrincipalID: req.Principal.ID, Role: req.Principal.Role,
		Route: req.Route, Environment: req.Principal.Environment, UVCI: req.UVCI}
	refuse := func(p problem.List) (Revocation, bool, error) {
		ev.ID, ev.At = s.newID(), s.now()
		ev.Status, ev.Outcome, ev.Codes = p.Status(), OutcomeRejected, p.Codes()
		ev.Latency = ev.At.Sub(req.Received)
		if err := s.store.RecordAudit(ctx, []AuditEvent{ev}); err != nil {
			if errors.Is(err, ErrStoreUnavailable) {
				return Revocation{}, false, s.unavailableOr(fmt.Errorf("record refused revocation: %w", err))
			}
			return Revocation{}, false, fmt.Errorf("%w (audit event not recorded: %w)", p, err)
		}
		return Revocation{}, false, p
	}

	switch req.Principal.Role {
	case RoleProvider, RoleSupportAdmin:
	default:
		return refuse(problem.New(problem.CodeForbidden, "",
			"This credential may not revoke certificates; the provider that issued one or a support administrator can."))
	}
	if !slices.Contains(RevocationReasons, req.Reason) {
		return refuse(problem.New(problem.CodeRevocationReasonUnknown, "reason", ""))
	}
	cert, err := s.store.CertificateByUVCI(ctx, req.UVCI)
	switch {
	case errors.Is(err, ErrNotFound):
		return refuse(problem.New(problem.CodeNotFound, "",
			"There is no certificate with this UVCI. Check the UVCI as printed on the certificate."))
	case err != nil:
		return s.revokeFailed(ctx, &ev, req, err)
	}
	ev.Kind, ev.Environment = cert.Kind, cert.Environment
	if req.Principal.Role == RoleProvider && cert.ProviderID != req.Principal.ID {
		return refuse(problem.New(problem.CodeForbidden, "",
			"This credential may revoke only the certificates its organisation issued. Ask the service desk to revoke others."))
	}

	d, err := hcert.Decode(cert.HC1)
	if err != nil {
		return s.revokeFailed(ctx, &ev, req, fmt.Errorf("decode stored certificate %s: %w", cert.UVCI, err))
	}
	h, err := revocation.Of(d)
	if err != nil {
		return s.revokeFailed(ctx, &ev, req, fmt.Errorf("revocation hashes of %s: %w", cert.UVCI, err))
	}
	now := s.now()
	r := Revocation{
		UVCI: cert.UVCI, Reason: req.Reason, RevokedAt: now, RevokedBy: req.Principal.ID,
		KID: d.KID, Environment: cert.Environment, ExpiresAt: cert.ExpiresAt,
		UCIHash: h.UCI, CountryCodeUCIHash: h.CountryCodeUCI, SignatureHash: h.Signature,
	}
	ev.ID, ev.At, ev.Status, ev.Outcome = s.newID(), now, 200, OutcomeRevoked
	ev.Latency = now.Sub(req.Received)
	ev.Notes = []string{"reason:" + string(req.Reason)}
	stored, created, err := s.store.Revoke(ctx, r, ev)
	if err != nil {
		// Written nothing: the event goes on its own, as a failure.
		ev.Notes = nil
		return s.revokeFailed(ctx, &ev, req, err)
	}
	if !created {
		// The store recorded the event as a replay; the answer is the first revocation.
		s.log.InfoContext(ctx, "certificate already revoked", "request_id", req.RequestID, "uvci", cert.UVCI)
	} else {
		s.log.InfoContext(ctx, "certificate revoked", "request_id", req.RequestID, "uvci", cert.UVCI, "reason", req.Reason)
	}
	return stored, created, nil
}

// revokeFailed audits a revocation the service could not complete and answers it: 503
// store-unavailable for a store outage, internal-error otherwise, the cause wrapped for the log.
func (s *Revocations) revokeFailed(ctx context.Context, ev *AuditEvent, req RevokeRequest, err error) (Revocation, bool, error) {
	answer := failureAnswer(err, s.retryAfter)
	ev.ID, ev.At = s.newID(), s.now()
	ev.Status, ev.Outcome, ev.Codes = answer.Status(), OutcomeFailed, answer.Codes()
	ev.Latency = ev.At.Sub(req.Received)
	if aErr := s.store.RecordAudit(ctx, []AuditEvent{*ev}); aErr != nil {
		err = errors.Join(err, fmt.Errorf("audit event not recorded: %w", aErr))
	}
	return Revocation{}, false, fmt.Errorf("%w: %w", answer, err)
}

// RevocationList is the published list of revocations of certificates not yet expired, in the
// EU DCC revocation format.
func (s *Revocations) RevocationList(ctx context.Context) (revocation.List, error) {
	list, err := s.store.Revocations(ctx, s.now())
	if err != nil {
		return revocation.List{}, s.unavailableOr(fmt.Errorf("revocation list: %w", err))
	}
	var last time.Time
	revoked := make([]revocation.Revoked, 0, len(list))
	for _, r := range list {
		if r.RevokedAt.After(last) {
			last = r.RevokedAt
		}
		revoked = append(revoked, revocation.Revoked{KID: r.KID, Expires: r.ExpiresAt, Hashes: revocation.Hashes{
			UCI: r.UCIHash, CountryCodeUCI: r.CountryCodeUCIHash, Signature: r.SignatureHash}})
	}
	return revocation.Build(s.country, last, revoked), nil
}
