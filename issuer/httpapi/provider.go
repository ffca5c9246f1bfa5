package httpapi

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/issuer"
)

// issue serves POST /observation, /recovery and /immunization: authenticate, read the body within
// its limit, hand it to the issuer, render the certificate. Requests refused here, before the
// issuer sees them, are audited here.
func (s *Server) issue(kind issuer.Kind) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		sub := issuer.Submission{Kind: kind, RequestID: requestID(c), ClientRequestID: clientGivenID(c),
			Route: r.Method + " " + c.Path(), Received: s.now()}
		// refuse audits a refusal made here, through the issuer's one event path, and returns
		// it, cause and all, for the error handler to render.
		refuse := func(err error) error {
			if _, ok := problem.As(err); !ok {
				err = fmt.Errorf("%w: %w", problem.Internal(), err)
			}
			s.auditRefusal(r.Context(), s.issuer.Refusal(sub, err))
			return err
		}

		principal, err := s.authenticate(c)
		if err != nil {
			return refuse(err)
		}
		sub.Principal = principal
		if principal.Role != issuer.RoleProvider {
			return refuse(problem.New(problem.CodeForbidden, "",
				"This credential may not issue certificates; only provider credentials can."))
		}
		if err := s.limits.allow(principal); err != nil {
			return refuse(err)
		}
		if p := requestIDProblem(c); p != nil {
			return refuse(p)
		}
		// The body is read whole, within its deadline, before any slot is taken: a client that
		// trickles its body holds a connection, never a slot others need.
		// Any Content-Type is read as JSON: vendors' clients label the same body in many ways,
		// and a body that is not JSON gets its own precise answer from the parser.
		body, err := readBodyWithin(c, s.maxBody, s.bodyTimeout)
		if err != nil {
			return refuse(err)
		}
		if !s.shares.take(principal.ID) {
			return refuse(overloaded(shareRetryAfter))
		}
		defer s.shares.give(principal.ID)
		if s.admit != nil {
			ticket, _, wait := s.admit.Acquire(r.Context())
			if ticket == nil {
				s.pace.refused(r.Context(), paceKey(principal.ID, c.RealIP()), wait)
				return refuse(overloaded(wait))
			}
			defer ticket.Release()
		}

		sub.Body = body
		out, err := s.issuer.Submit(r.Context(), sub)
		if err != nil {
			return err
		}
		resp, err := s.render(out)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(c.Path(), apiPrefix+"/") {
			resp = resp.compat()
		}
		if out.Replayed {
			c.Response().Header().Set("X-Replayed", "true")
		}
		return s.writeAnswer(c, resp)
	}
}

// paceKey names who is asking for the pacing of overload refusals: the credential and the host it
// sends from. Not the connection: a client that opens a new connection for every retry must not
// escape the pause, and one provider's pause must not reach another that shares nothing with it.
func paceKey(principalID, clientAddr string) string {
	host, _, err := net.SplitHostPort(clientAddr)
	if err != nil {
		host = clientAddr // already a bare IP (RealIP)
	}
	return principalID + "|" + host
}

// auditRefusal records a request refused before any work. Through the queue it never waits for
// the store, so a refusal stays fast when the store is busy with admitted work.
func (s *Server) auditRefusal(ctx context.Context, ev issuer.AuditEvent) {
	if s.refusals != nil {
		s.refusals.Add(ev)
		return
	}
	if err := s.issuer.Audit(ctx, ev); err != nil {
		s.log.ErrorContext(ctx, "audit refused request", "request_id", ev.RequestID, "err", err)
	}
}

// overloaded is the answer to a request admission control refused: 503 overloaded with the
// Retry-After the limiter suggested, named in the text as well.
func overloaded(retryAfter time.Duration) problem.List {
	return problem.New(problem.CodeOverloaded, "", fmt.Sprintf(
		"The service is handling as many requests as it can. Send the same request again after %s (Retry-After); it has not been processed.",
		seconds(retryAfter))).WithRetryAfter(retryAfter)
}

// seconds writes a wait rounded up to whole seconds, as Retry-After carries it.
func seconds(d time.Duration) string {
	n := int(max(1, (d+time.Second-1)/time.Second))
	if n == 1 {
		return "1 second"
	}
	return fmt.Sprintf("%d seconds", n)
}
