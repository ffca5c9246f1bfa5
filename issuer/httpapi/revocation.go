package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/signing/trust"
)

// publishedMaxAge is how long verifiers may cache the trust list and the revocation list
// before asking again (with If-None-Match, answered 304 while unchanged).
const publishedMaxAge = 5 * time.Minute

// defaultVerifyRate limits POST /api/v1/verify per credential when Options.VerifyRate is unset.
var defaultVerifyRate = RateLimit{Rate: 2, Burst: 20}

func (s *Server) revocationRoutes() {
	s.add(http.MethodPost, "/api/v1/certificates/:uvci/revoke", s.revoke,
		string(issuer.RoleProvider), string(issuer.RoleSupportAdmin))
	s.add(http.MethodGet, "/api/v1/revocations", s.revocations, "public")
	s.add(http.MethodGet, "/api/v1/trust-list", s.trustList, "public")
	s.add(http.MethodPost, "/api/v1/verify", s.verify,
		string(issuer.RoleProvider), string(issuer.RoleSupport), string(issuer.RoleSupportAdmin))
}

// authenticated returns the caller's principal when its role is one of roles; otherwise it
// audits the refusal and returns the problem (401 without a valid credential, 403 with one of
// another role).
func (s *Server) authenticated(c echo.Context, ev *issuer.AuditEvent, start time.Time, forbidden string, roles ...issuer.Role) (issuer.Principal, error) {
	principal, err := s.authenticate(c)
	if err != nil {
		return issuer.Principal{}, s.refuse(c, ev, start, err)
	}
	ev.PrincipalID, ev.Role, ev.Environment = principal.ID, principal.Role, principal.Environment
	if !slices.Contains(roles, principal.Role) {
		return issuer.Principal{}, s.refuse(c, ev, start, problem.New(problem.CodeForbidden, "", forbidden))
	}
	return principal, nil
}

// refuse audits a refusal made before the issuer saw the request and returns it, cause and
// all, for the error handler to render.
func (s *Server) refuse(c echo.Context, ev *issuer.AuditEvent, start time.Time, err error) error {
	p, ok := problem.As(err)
	if !ok {
		p = problem.Internal()
		err = fmt.Errorf("%w: %w", p, err)
	}
	ev.Status, ev.Outcome, ev.Codes = p.Status(), issuer.OutcomeRejected, p.Codes()
	ev.Latency = s.now().Sub(start)
	s.auditRefusal(c.Request().Context(), *ev)
	return err
}

// The request bodies below are read strictly (github.com/go-json-experiment/json): duplicate or
// unknown members and names that match only ignoring case are refused.

// revokeRequest is the body of POST /api/v1/certificates/{uvci}/revoke.
type revokeRequest struct {
	Reason issuer.RevocationReason `json:"reason"`
}

// revocationView is the answer to a revocation.
type revocationView struct {
	UVCI      string    `json:"uvci"`
	Reason    string    `json:"reason"`
	RevokedAt time.Time `json:"revokedAt"`
	// Created is false when the certificate was revoked already; the first revocation is shown.
	Created bool `json:"created"`
}

// revoke serves POST /api/v1/certificates/{uvci}/revoke: the provider that issued the
// certificate or a support administrator revokes it; a repeat answers the first revocation.
func (s *Server) revoke(c echo.Context) error {
	start := s.now()
	r := c.Request()
	uvci, err := url.PathUnescape(c.Param("uvci"))
	if err != nil {
		uvci = c.Param("uvci")
	}
	ev := issuer.AuditEvent{RequestID: requestID(c), Route: r.Method + " " + routeTemplate(c.Path()), UVCI: uvci}
	principal, err := s.authenticated(c, &ev, start,
		"This credential may not revoke certificates; the provider that issued one or a support administrator can.",
		issuer.RoleProvider, issuer.RoleSupportAdmin)
	if err != nil {
		return err
	}
	body, err := readBody(r, s.maxBody)
	if err != nil {
		return s.refuse(c, &ev, start, err)
	}
	var req revokeRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := jsonv2.Unmarshal(body, &req, jsonv2.RejectUnknownMembers(true)); err != nil {
			return s.refuse(c, &ev, start, problem.New(problem.CodeMalformedJSON, "",
				`Send a JSON object {"reason": "..."} with one of the documented reasons.`))
		}
	}
	rev, created, err := s.revs.Revoke(r.Context(), issuer.RevokeRequest{
		UVCI: uvci, Reason: req.Reason, Principal: principal, RequestID: requestID(c), Route: ev.Route, Received: start,
	})
	if err != nil {
		return err
	}
	if created {
		s.pub.invalidate(docRevocations)
	}
	return c.JSON(http.StatusOK, revocationView{UVCI: rev.UVCI, Reason: string(rev.Reason), RevokedAt: rev.RevokedAt.UTC(), Created: created})
}

// routeTemplate writes echo's :param as {param}, as the audit log and docs name routes.
func routeTemplate(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") {
			parts[i] = "{" + p[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

// revocations serves GET /api/v1/revocations: the EU DCC revocation list, signed.
func (s *Server) revocations(c echo.Context) error {
	d, err := s.publishedDocument(c.Request().Context(), docRevocations, func(ctx context.Context) (any, error) {
		return s.revs.RevocationList(ctx)
	})
	if err != nil {
		return err
	}
	return servePublished(c, d)
}

// trustList serves GET /api/v1/trust-list: every DSC the service has signed with, signed.
func (s *Server) trustList(c echo.Context) error {
	d, err := s.publishedDocument(c.Request().Context(), docTrustList, func(ctx context.Context) (any, error) {
		return s.revs.TrustList(ctx)
	})
	if err != nil {
		return err
	}
	return servePublished(c, d)
}

// verifyRequest is the body of POST /api/v1/verify.
type verifyRequest struct {
	HC1 string `json:"hc1"`
	// TrustList, when given, is used instead of the service's own: this service's document or
	// a DCC gateway trust list.
	TrustList jsontext.Value `json:"trustList,omitempty"`
	// At, when given, is the time to verify at (RFC 3339); default now.
	At *time.Time `json:"at,omitempty"`
}

// verify serves POST /api/v1/verify: decode an HC1 and report each check as its own finding.
func (s *Server) verify(c echo.Context) error {
	start := s.now()
	r := c.Request()
	ev := issuer.AuditEvent{RequestID: requestID(c), Route: r.Method + " " + c.Path()}
	principal, err := s.authenticated(c, &ev, start,
		"This credential may not verify certificates here; provider and support credentials can.",
		issuer.RoleProvider, issuer.RoleSupport, issuer.RoleSupportAdmin)
	if err != nil {
		return err
	}
	if err := s.verifyLimits.allow(principal); err != nil {
		return s.refuse(c, &ev, start, err)
	}
	body, err := readBody(r, s.maxBody)
	if err != nil {
		return err
	}
	var req verifyRequest
	if err := jsonv2.Unmarshal(body, &req, jsonv2.RejectUnknownMembers(true)); err != nil {
		return problem.New(problem.CodeMalformedJSON, "",
			`Send a JSON object {"hc1": "HC1:...", "trustList": {...} (optional), "at": "RFC 3339" (optional)}.`)
	}
	if strings.TrimSpace(req.HC1) == "" {
		return problem.New(problem.CodeHC1Missing, "hc1", "")
	}
	var list *trust.List
	if len(req.TrustList) > 0 && !bytes.Equal(bytes.TrimSpace(req.TrustList), []byte("null")) {
		if list, err = trust.Parse(req.TrustList); err != nil {
			return problem.New(problem.CodeMalformedJSON, "trustList",
				"The trust list could not be read: send this service's trust list document or a DCC gateway trust list, every certificate DER in base64.")
		}
	}
	at := s.now()
	if req.At != nil {
		at = *req.At
	}
	report, err := s.revs.Verify(r.Context(), strings.TrimSpace(req.HC1), list, at)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, report)
}
