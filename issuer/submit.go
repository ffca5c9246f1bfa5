package issuer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/signing/dcc"
)

// Submission is one issuance request as it reached the service.
type Submission struct {
	Kind      Kind
	Principal Principal
	// RequestID is the request's id: the client's X-Request-ID, or one the service generated.
	RequestID string
	// ClientRequestID is set when the client sent RequestID itself; only then is it kept for
	// replay detection.
	ClientRequestID bool
	Route           string
	Body            []byte
	// Received is when the request arrived, for the audit event's latency.
	Received time.Time
}

// Issued is a certificate as the issuer answers it: the stored record plus its decoded payload.
type Issued struct {
	Certificate Certificate
	Payload     dcc.Certificate
	// Replayed is set when the answer is an earlier certificate returned again.
	Replayed bool
}

// Submit runs one issuance request to its end: replay detection, parsing and validation, the
// environment rules, identity resolution, signing and the durable write of certificate and audit
// event. Every call writes exactly one audit event, whatever the outcome. Errors that the caller
// can act on are problem.List; any other failure is answered as internal-error with its cause
// wrapped, for the HTTP layer to log where it renders the answer.
func (s *Service) Submit(ctx context.Context, sub Submission) (Issued, error) {
	if sub.Received.IsZero() {
		sub.Received = s.now()
	}
	ev := AuditEvent{
		RequestID:   sub.RequestID,
		PrincipalID: sub.Principal.ID,
		Role:        sub.Principal.Role,
		Route:       sub.Route,
		Kind:        sub.Kind,
		Environment: sub.Principal.Environment,
	}
	// The request id is bound to the kind as well as the body: the same body sent to another
	// kind's route is another request (the /api/v1 and bare paths of one kind are one route).
	bodyHash := sha256.Sum256(append([]byte(string(sub.Kind)+"\x00"), sub.Body...))

	var req *RequestRecord
	if sub.ClientRequestID {
		req = &RequestRecord{PrincipalID: sub.Principal.ID, RequestID: sub.RequestID, BodyHash: bodyHash[:]}
		out, err, done := s.replayRequest(ctx, sub, req, &ev)
		if done {
			return out, err
		}
	}

	if !slices.Contains(sub.Principal.Kinds, sub.Kind) {
		return Issued{}, s.reject(ctx, sub, &ev, req, problem.New(problem.CodeKindNotGranted, "",
			fmt.Sprintf("This credential may not issue %s certificates. Ask the service desk to grant the kind, or use the credential that has it.", sub.Kind)))
	}

	draft, err := s.parse(sub)
	if err != nil {
		return Issued{}, s.reject(ctx, sub, &ev, req, err)
	}
	ev.SubjectMasked, ev.SubjectKey = draft.subject.PNR.Masked(), draft.subjectKey
	if p := s.environmentRules(sub.Principal, draft); p != nil {
		return Issued{}, s.reject(ctx, sub, &ev, req, p)
	}

	// One issuance per (provider, Identifier) at a time in this process; the store's unique key
	// settles it across processes.
	unlock := s.lockIdentifier(sub.Principal.ID + "\x00" + draft.identifier)
	defer unlock()

	if out, err, done := s.replayIdentifier(ctx, sub, draft, req, &ev); done {
		return out, err
	}

	id, err := s.resolve(ctx, sub.Principal.Environment, draft.subject)
	if err != nil {
		return Issued{}, s.reject(ctx, sub, &ev, req, err)
	}
	ev.IdentitySource = id.source
	ev.Notes = append(ev.Notes, id.notes...)

	cert, payload, err := s.sign(sub, draft, id)
	if err != nil {
		return Issued{}, s.reject(ctx, sub, &ev, req, err)
	}
	ev.UVCI = cert.UVCI
	ev.Status = 200
	ev.Outcome = OutcomeIssued
	if req != nil {
		req.Status = 200
		req.UVCI = cert.UVCI
		req.CreatedAt = s.now()
	}
	ev.ID = s.newID()
	ev.At = s.now()
	ev.Latency = ev.At.Sub(sub.Received)
	err = s.store.Record(ctx, Record{Audit: ev, Certificate: &cert, Request: req})
	if err != nil {
		// Nothing was written; whatever answers this request writes its own event.
		ev.UVCI, ev.Status, ev.Outcome = "", 0, ""
	}
	switch {
	case errors.Is(err, ErrIdentifierTaken):
		// Another process issued for this Identifier between our check and our write.
		if out, err, done := s.replayIdentifier(ctx, sub, draft, req, &ev); done {
			return out, err
		}
		return Issued{}, s.fail(ctx, sub, &ev, fmt.Errorf("identifier taken but not found: %w", err))
	case errors.Is(err, ErrRequestIDTaken):
		if out, err, done := s.replayRequest(ctx, sub, req, &ev); done {
			return out, err
		}
		return Issued{}, s.fail(ctx, sub, &ev, fmt.Errorf("request id taken but not found: %w", err))
	case err != nil:
		ev.Notes = append(ev.Notes, "certificate-not-stored")
		return Issued{}, s.fail(ctx, sub, &ev, fmt.Errorf("record issuance %s: %w", cert.UVCI, err))
	}
	if s.metrics != nil {
		s.metrics.Issued(sub.Kind, sub.Principal.Environment, id.source)
	}
	s.log.InfoContext(ctx, "certificate issued", "request_id", sub.RequestID, "uvci", cert.UVCI,
		"kind", sub.Kind, "identity_source", id.source, "provider", sub.Principal.ID)
	return Issued{Certificate: cert, Payload: payload}, nil
}

// replayRequest answers a client request id seen before: the original answer for the same body,
// request-id-reused for another body. done is false when the id is new.
func (s *Service) replayRequest(ctx context.Context, sub Submission, req *RequestRecord, ev *AuditEvent) (Issued, error, bool) {
	prev, err := s.store.Request(ctx, sub.Principal.ID, sub.RequestID)
	if errors.Is(err, ErrNotFound) {
		return Issued{}, nil, false
	}
	if err != nil {
		return Issued{}, s.fail(ctx, sub, ev, err), true
	}
	if !bytes.Equal(prev.BodyHash, req.BodyHash) {
		return Issued{}, s.reject(ctx, sub, ev, nil, problem.New(problem.CodeRequestIDReused, "X-Request-ID", "")), true
	}
	if prev.UVCI == "" {
		var stored problem.List
		if err := json.Unmarshal(prev.Body, &stored); err != nil || len(stored) == 0 {
			return Issued{}, s.fail(ctx, sub, ev, fmt.Errorf("decode stored answer for request %s: %v", sub.RequestID, err)), true
		}
		ev.Notes = append(ev.Notes, "request-id-replay")
		ev.Problems = stored
		if err := s.audit(ctx, ev, sub, OutcomeReplayed, stored.Status(), stored.Codes()); err != nil {
			return Issued{}, fmt.Errorf("%w (audit event not recorded: %w)", stored, err), true
		}
		return Issued{}, stored, true
	}
	cert, err := s.store.CertificateByUVCI(ctx, prev.UVCI)
	if err != nil {
		return Issued{}, s.fail(ctx, sub, ev, fmt.Errorf("load certificate %s for replay: %w", prev.UVCI, err)), true
	}
	return s.replayed(ctx, sub, ev, cert, "request-id-replay")
}

// replayIdentifier answers an Identifier issued before: the same certificate for the same content,
// identifier-conflict for other content. done is false when the Identifier is new.
func (s *Service) replayIdentifier(ctx context.Context, sub Submission, d draft, req *RequestRecord, ev *AuditEvent) (Issued, error, bool) {
	prev, err := s.store.CertificateByIdentifier(ctx, sub.Principal.ID, d.identifier)
	if errors.Is(err, ErrNotFound) {
		return Issued{}, nil, false
	}
	if err != nil {
		return Issued{}, s.fail(ctx, sub, ev, err), true
	}
	if prev.Kind != sub.Kind || !bytes.Equal(prev.ContentHash, d.contentHash) {
		return Issued{}, s.reject(ctx, sub, ev, req, problem.New(problem.CodeIdentifierConflict, d.identifierPath(), "")), true
	}
	if req != nil {
		// Remember the client's request id against the certificate it got.
		r := *req
		r.Status = 200
		r.UVCI = prev.UVCI
		r.CreatedAt = s.now()
		ev.ID, ev.At = s.newID(), s.now()
		ev.UVCI, ev.Status, ev.Outcome, ev.IdentitySource = prev.UVCI, 200, OutcomeReplayed, prev.IdentitySource
		ev.Latency = ev.At.Sub(sub.Received)
		ev.Notes = append(ev.Notes, "identifier-replay")
		err := s.store.Record(ctx, Record{Audit: *ev, Request: &r})
		if err == nil {
			out, err := s.issued(prev, true)
			return out, err, true
		}
		if !errors.Is(err, ErrRequestIDTaken) {
			ev.UVCI, ev.Status, ev.Outcome = "", 0, ""
			return Issued{}, s.fail(ctx, sub, ev, fmt.Errorf("record replay of %s: %w", prev.UVCI, err)), true
		}
		// A concurrent request with the same id got there first: answer as it did.
		return s.replayRequest(ctx, sub, req, ev)
	}
	return s.replayed(ctx, sub, ev, prev, "identifier-replay")
}

func (s *Service) replayed(ctx context.Context, sub Submission, ev *AuditEvent, cert Certificate, note string) (Issued, error, bool) {
	ev.UVCI, ev.IdentitySource = cert.UVCI, cert.IdentitySource
	ev.Notes = append(ev.Notes, note)
	out, err := s.issued(cert, true)
	if err != nil {
		return Issued{}, s.fail(ctx, sub, ev, err), true
	}
	if err := s.audit(ctx, ev, sub, OutcomeReplayed, 200, nil); err != nil {
		// The answer stands (the certificate exists); only the event is missing.
		s.log.ErrorContext(ctx, "record audit event of a replay", "request_id", sub.RequestID, "err", err)
	}
	return out, nil, true
}

func (s *Service) issued(c Certificate, replayed bool) (Issued, error) {
	payload, err := decodePayload(c.HC1)
	if err != nil {
		return Issued{}, fmt.Errorf("decode stored certificate %s: %w", c.UVCI, err)
	}
	return Issued{Certificate: c, Payload: payload, Replayed: replayed}, nil
}

// reject records a refused request and returns its problems. A request record is kept (so a
// replay gets the same answer) unless the refusal is transient.
func (s *Service) reject(ctx context.Context, sub Submission, ev *AuditEvent, req *RequestRecord, err error) error {
	probs, ok := problem.As(err)
	if !ok {
		return s.fail(ctx, sub, ev, err)
	}
	class := probs.Class()
	status := class.Status()
	outcome := OutcomeRejected
	if status >= 500 {
		outcome = OutcomeFailed
	}
	ev.ID, ev.At = s.newID(), s.now()
	ev.Status, ev.Outcome, ev.Codes, ev.Problems = status, outcome, probs.Codes(), probs
	ev.Latency = ev.At.Sub(sub.Received)
	rec := Record{Audit: *ev}
	if req != nil && !class.Transient() {
		body, mErr := json.Marshal(probs)
		if mErr == nil {
			r := *req
			r.Status, r.Body, r.CreatedAt = status, body, s.now()
			rec.Request = &r
		}
	}
	wErr := s.store.Record(ctx, rec)
	if errors.Is(wErr, ErrRequestIDTaken) {
		// A concurrent request with the same id was recorded first; keep the audit event.
		rec.Request = nil
		wErr = s.store.Record(ctx, rec)
	}
	switch {
	case wErr == nil:
		return err
	case class != problem.ClassUnavailable:
		// A refusal that cannot be recorded is not answered: the client retries it.
		return s.unavailableStore(fmt.Errorf("record refusal %v: %w", ev.Codes, wErr))
	default:
		return fmt.Errorf("%w (audit event not recorded: %w)", err, wErr)
	}
}

// fail records a failure the service cannot name for the caller and answers it without detail.
// A store outage is answered 503 store-unavailable; its audit event is attempted all the same,
// for a store that fails some operations and not others.
// The cause travels with the answer and is logged once, where the HTTP layer renders it.
func (s *Service) fail(ctx context.Context, sub Submission, ev *AuditEvent, err error) error {
	answer := problem.Internal()
	if errors.Is(err, ErrStoreUnavailable) {
		answer = problem.New(problem.CodeStoreUnavailable, "", "").WithRetryAfter(s.cfg.StoreRetryAfter)
	}
	ev.Problems = answer
	if aErr := s.audit(ctx, ev, sub, OutcomeFailed, answer.Status(), answer.Codes()); aErr != nil {
		err = errors.Join(err, fmt.Errorf("audit event not recorded: %w", aErr))
	}
	return fmt.Errorf("%w: %w", answer, err)
}

// audit writes the request's audit event on its own.
func (s *Service) audit(ctx context.Context, ev *AuditEvent, sub Submission, outcome Outcome, status int, codes []string) error {
	ev.ID, ev.At = s.newID(), s.now()
	ev.Outcome, ev.Status, ev.Codes = outcome, status, codes
	ev.Latency = ev.At.Sub(sub.Received)
	if err := s.store.Record(ctx, Record{Audit: *ev}); err != nil {
		return fmt.Errorf("record audit event: %w", err)
	}
	return nil
}

// Audit records an event for a request that never reached Submit (refused by authentication,
// size limits or admission control).
func (s *Service) Audit(ctx context.Context, ev AuditEvent) error {
	if ev.ID == "" {
		ev.ID = s.newID()
	}
	if ev.At.IsZero() {
		ev.At = s.now()
	}
	if err := s.store.Record(ctx, Record{Audit: ev}); err != nil {
		return fmt.Errorf("record audit event: %w", err)
	}
	return nil
}

// keyed per-identifier locks
type keyLock struct {
	mu   sync.Mutex
	refs int
}

var _ slog.LogValuer = Submission{}

// LogValue keeps request bodies out of logs.
func (s Submission) LogValue() slog.Value {
	return slog.GroupValue(slog.String("request_id", s.RequestID), slog.String("route", s.Route),
		slog.String("principal", s.Principal.ID), slog.String("kind", string(s.Kind)))
}

func (s *Service) lockIdentifier(key string) func() {
	s.locksMu.Lock()
	if s.locks == nil {
		s.locks = map[string]*keyLock{}
	}
	l := s.locks[key]
	if l == nil {
		l = &keyLock{}
		s.locks[key] = l
	}
	l.refs++
	s.locksMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.locksMu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(s.locks, key)
		}
		s.locksMu.Unlock()
	}
}
