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

	"github.com/go-json-experiment/json/jsontext"

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
	// Identity is the personnummer or samordningsnummer the provider sent ("" when it sent
	// none), for the answer's subject; it is never stored.
	Identity string
}

// Submit runs one issuance request to its end: replay detection, parsing and validation, the
// environment rules, identity resolution, signing and the durable write of certificate and audit
// event. It first decides the outcome (decide), then writes it in one place (finish), so that every
// call writes exactly one audit event, whatever the outcome. Errors that the caller can act on
// are problem.List; any other failure is answered as internal-error with its cause wrapped, for
// the HTTP layer to log where it renders the answer.
func (s *Service) Submit(ctx context.Context, sub Submission) (Issued, error) {
	if sub.Received.IsZero() {
		sub.Received = s.now()
	}
	var req *RequestRecord
	if sub.ClientRequestID {
		req = &RequestRecord{PrincipalID: sub.Principal.ID, RequestID: sub.RequestID, BodyHash: requestHash(sub.Kind, sub.Body)}
	}
	d, unlock := s.decide(ctx, sub, req)
	defer unlock()
	return s.finish(ctx, sub, d, true)
}

// decision is what a request comes to, before anything is written: the answer, and the records
// that go with it.
type decision struct {
	answer  Issued // when err is nil
	err     error  // the refusal or failure, a problem.List (with its cause wrapped)
	outcome Outcome
	// cert is a newly signed certificate to store; request the client's request id to remember.
	cert    *Certificate
	request *RequestRecord
	// What the audit event says besides the outcome.
	uvci          string
	source        IdentitySource
	notes         []string
	subjectMasked string
	subjectKey    []byte
	// draft is the parsed request, when parsing got that far (a lost race re-decides from it).
	draft *draft
}

func noLock() {}

// decide runs the rules in order and stops at the first that settles the request. unlock
// releases the per-Identifier lock, held until the decision is written.
func (s *Service) decide(ctx context.Context, sub Submission, req *RequestRecord) (decision, func()) {
	if req != nil {
		if d, ok := s.replayRequest(ctx, sub, req); ok {
			return d, noLock
		}
	}
	if !slices.Contains(sub.Principal.Kinds, sub.Kind) {
		return s.refuse(req, problem.New(problem.CodeKindNotGranted, "",
			fmt.Sprintf("This credential may not issue %s certificates. Ask the service desk to grant the kind, or use the credential that has it.", sub.Kind))), noLock
	}

	if sg := s.signers[sub.Principal.Environment]; sg != nil && !sg.Allows(sub.Kind) {
		return s.refuse(req, problem.New(problem.CodeKindNotSignable, "",
			fmt.Sprintf("This service's signing certificate for %s may not sign %s certificates (its extended key usages do not name the kind). The service desk must install a signing certificate that does.", sub.Principal.Environment, sub.Kind))), noLock
	}

	dr, err := s.parse(sub)
	if err != nil {
		return s.refuse(req, s.withEnvironmentRules(sub.Principal, dr, err)), noLock
	}
	with := func(d decision) decision {
		d.subjectMasked, d.subjectKey, d.draft = dr.subject.PNR.Masked(), dr.subjectKey, &dr
		return d
	}
	if p := s.environmentRules(sub.Principal, dr); p != nil {
		return with(s.refuse(req, p)), noLock
	}

	// One issuance per (provider, Identifier) at a time in this process; the store's unique key
	// settles it across processes.
	unlock := s.lockIdentifier(sub.Principal.ID + "\x00" + dr.identifier)
	if d, ok := s.replayIdentifier(ctx, sub, dr, req); ok {
		return with(d), unlock
	}
	// A signer that cannot sign now is known before the register is asked.
	if sg := s.signers[sub.Principal.Environment]; sg != nil {
		if sh := s.signerValidity(sub.Principal.Environment, sg); sh.Err != nil {
			return with(s.refuse(req, signingUnavailable(sh))), unlock
		}
	}
	id, err := s.resolve(ctx, sub.Principal.Environment, dr.subject)
	if err != nil {
		return with(s.refuse(req, err)), unlock
	}
	cert, payload, err := s.sign(sub, dr, id)
	if err != nil {
		d := with(s.refuse(req, err))
		d.source, d.notes = id.source, id.notes
		return d, unlock
	}
	d := with(decision{answer: Issued{Certificate: cert, Payload: payload}, outcome: OutcomeIssued, cert: &cert,
		uvci: cert.UVCI, source: id.source, notes: id.notes})
	if req != nil {
		r := *req
		r.Status, r.UVCI, r.CreatedAt = 200, cert.UVCI, s.now()
		d.request = &r
	}
	return d, unlock
}

// refuse decides a refusal: problems are answered as they are, anything else as a failure the
// service cannot name. A request id is remembered with the answer (so a replay gets the same)
// unless the refusal is transient.
func (s *Service) refuse(req *RequestRecord, err error) decision {
	probs, ok := problem.As(err)
	if !ok {
		return s.failed(err)
	}
	d := decision{err: err, outcome: OutcomeRejected}
	if probs.Status() >= 500 {
		d.outcome = OutcomeFailed
	}
	if req != nil && !probs.Class().Transient() {
		if body, mErr := json.Marshal(probs); mErr == nil {
			r := *req
			r.Status, r.Body, r.CreatedAt = probs.Status(), body, s.now()
			d.request = &r
		}
	}
	return d
}

// failed decides a failure the service cannot name for the caller: 503 store-unavailable for a
// store outage, 500 internal-error otherwise, the cause wrapped for the log.
func (s *Service) failed(err error) decision {
	answer := failureAnswer(err, s.cfg.StoreRetryAfter)
	return decision{err: fmt.Errorf("%w: %w", answer, err), outcome: OutcomeFailed}
}

// replayRequest answers a client request id seen before: the original answer for the same body,
// request-id-reused for another body. ok is false when the id is new.
func (s *Service) replayRequest(ctx context.Context, sub Submission, req *RequestRecord) (decision, bool) {
	prev, err := s.store.Request(ctx, sub.Principal.ID, sub.RequestID)
	switch {
	case errors.Is(err, ErrNotFound):
		return decision{}, false
	case err != nil:
		return s.failed(err), true
	case !bytes.Equal(prev.BodyHash, req.BodyHash) && !bytes.Equal(prev.BodyHash, exactHash(sub.Kind, sub.Body)):
		// Nothing is remembered: the id belongs to the other request.
		return s.refuse(nil, problem.New(problem.CodeRequestIDReused, "X-Request-ID", "")), true
	case prev.UVCI == "":
		var stored problem.List
		if err := json.Unmarshal(prev.Body, &stored); err != nil || len(stored) == 0 {
			return s.failed(fmt.Errorf("decode stored answer for request %s: %v", sub.RequestID, err)), true
		}
		return decision{err: stored, outcome: OutcomeReplayed, notes: []string{"request-id-replay"}}, true
	}
	cert, err := s.store.CertificateByUVCI(ctx, prev.UVCI)
	if err != nil {
		return s.failed(fmt.Errorf("load certificate %s for replay: %w", prev.UVCI, err)), true
	}
	return s.replayed(cert, nil, "request-id-replay"), true
}

// replayIdentifier answers an Identifier issued before: the same certificate for the same content,
// identifier-conflict for other content. ok is false when the Identifier is new.
func (s *Service) replayIdentifier(ctx context.Context, sub Submission, d draft, req *RequestRecord) (decision, bool) {
	prev, err := s.store.CertificateByIdentifier(ctx, sub.Principal.ID, d.identifier)
	switch {
	case errors.Is(err, ErrNotFound):
		return decision{}, false
	case err != nil:
		return s.failed(err), true
	case prev.Kind != sub.Kind || !bytes.Equal(prev.ContentHash, d.contentHash):
		return s.refuse(req, problem.New(problem.CodeIdentifierConflict, d.identifierPath(), "")), true
	}
	var r *RequestRecord
	if req != nil {
		// Remember the client's request id against the certificate it got.
		rr := *req
		rr.Status, rr.UVCI, rr.CreatedAt = 200, prev.UVCI, s.now()
		r = &rr
	}
	return s.replayed(prev, r, "identifier-replay"), true
}

// replayed decides the answer of an earlier certificate given again.
func (s *Service) replayed(c Certificate, req *RequestRecord, note string) decision {
	out, err := s.issued(c, true)
	if err != nil {
		return s.failed(err)
	}
	return decision{answer: out, outcome: OutcomeReplayed, request: req, uvci: c.UVCI, source: c.IdentitySource, notes: []string{note}}
}

func (s *Service) issued(c Certificate, replayed bool) (Issued, error) {
	payload, err := decodePayload(c.HC1)
	if err != nil {
		return Issued{}, fmt.Errorf("decode stored certificate %s: %w", c.UVCI, err)
	}
	return Issued{Certificate: c, Payload: payload, Replayed: replayed}, nil
}

// event is the one place an audit event is made, for Submit and for the refusals the HTTP layer
// makes before Submit (Refusal).
func (s *Service) event(sub Submission, d decision) AuditEvent {
	ev := AuditEvent{
		ID: s.newID(), At: s.now(),
		RequestID: sub.RequestID, PrincipalID: sub.Principal.ID, Role: sub.Principal.Role, Route: sub.Route,
		Kind: sub.Kind, Environment: sub.Principal.Environment,
		Outcome: d.outcome, Status: 200,
		UVCI: d.uvci, IdentitySource: d.source, Notes: d.notes,
		SubjectMasked: d.subjectMasked, SubjectKey: d.subjectKey,
	}
	ev.Latency = ev.At.Sub(sub.Received)
	if d.err != nil {
		p, _ := problem.As(d.err)
		ev.Status, ev.Codes, ev.Problems = p.Status(), p.Codes(), p
		if ev.Outcome == "" {
			ev.Outcome = OutcomeRejected
		}
	}
	return ev
}

// finish is Submit's one exit: it writes the decision's audit event with its certificate and
// request record in one transaction and returns the answer. A lost race for the Identifier or the
// request id is decided again as the replay it has become (once: again is true only the first
// time).
func (s *Service) finish(ctx context.Context, sub Submission, d decision, again bool) (Issued, error) {
	rec := Record{Audit: s.event(sub, d), Certificate: d.cert, Request: d.request}
	err := s.store.Record(ctx, rec)
	switch {
	case err == nil:
		if d.err != nil {
			return Issued{}, d.err
		}
		if d.outcome == OutcomeIssued {
			if s.metrics != nil {
				s.metrics.Issued(sub.Kind, sub.Principal.Environment, d.source)
			}
			s.log.InfoContext(ctx, "certificate issued", "request_id", sub.RequestID, "uvci", d.uvci,
				"kind", sub.Kind, "identity_source", d.source, "provider", sub.Principal.ID)
		}
		return s.withIdentity(sub, d), nil
	case again && errors.Is(err, ErrIdentifierTaken) && d.draft != nil:
		// Another process issued for this Identifier between our check and our write. When it
		// was this same request (another replica, the same X-Request-ID), it took the request id
		// too: answer as it was answered.
		if d.request != nil {
			if next, ok := s.replayRequest(ctx, sub, d.request); ok {
				return s.finish(ctx, sub, next, false)
			}
		}
		next, ok := s.replayIdentifier(ctx, sub, *d.draft, d.request.withoutAnswer())
		if !ok {
			next = s.failed(fmt.Errorf("identifier taken but not found: %w", err))
		}
		return s.finish(ctx, sub, next, false)
	case again && errors.Is(err, ErrRequestIDTaken) && (d.cert != nil || d.err == nil):
		// A concurrent request with the same id was recorded first: answer as it was answered.
		next, ok := s.replayRequest(ctx, sub, d.request)
		if !ok {
			next = s.failed(fmt.Errorf("request id taken but not found: %w", err))
		}
		return s.finish(ctx, sub, next, false)
	case errors.Is(err, ErrRequestIDTaken):
		// A refusal whose request id a concurrent request took: keep the audit event.
		rec.Request = nil
		err = s.store.Record(ctx, rec)
		if err == nil {
			return Issued{}, d.err
		}
	}
	// Nothing was written.
	switch {
	case d.cert != nil && again:
		// The certificate is not stored, so it is not issued: answer the failure, audited.
		f := s.failed(fmt.Errorf("record issuance %s: %w", d.cert.UVCI, err))
		f.notes = append(append([]string(nil), d.notes...), "certificate-not-stored")
		f.subjectMasked, f.subjectKey, f.source = d.subjectMasked, d.subjectKey, d.source
		return s.finish(ctx, sub, f, false)
	case d.err == nil:
		if d.request == nil {
			// An earlier certificate given again: the answer stands; only its event is missing.
			s.log.ErrorContext(ctx, "record audit event of a replay", "request_id", sub.RequestID, "err", err)
			return d.answer, nil
		}
		return Issued{}, s.failed(fmt.Errorf("record replay of %s: %w", d.uvci, err)).err
	}
	p, _ := problem.As(d.err)
	if p.Class() != problem.ClassUnavailable && p.Class() != problem.ClassInternal {
		// A refusal that cannot be recorded is not answered: the client retries it.
		return Issued{}, s.unavailableStore(fmt.Errorf("record refusal %v: %w", p.Codes(), err))
	}
	return Issued{}, fmt.Errorf("%w (audit event not recorded: %w)", d.err, err)
}

// withoutAnswer is the request record as it was before an answer was decided for it.
func (r *RequestRecord) withoutAnswer() *RequestRecord {
	if r == nil {
		return nil
	}
	c := *r
	c.Status, c.UVCI, c.Body, c.CreatedAt = 0, "", nil, time.Time{}
	return &c
}

// Refusal is the audit event of a request refused before Submit (authentication, role, rate
// limit, admission, request id, body size), made by the same function as Submit's events. The
// HTTP layer hands it to the audit queue, so that a refusal never waits for the store.
func (s *Service) Refusal(sub Submission, err error) AuditEvent {
	if sub.Received.IsZero() {
		sub.Received = s.now()
	}
	d := s.refuse(nil, err)
	// Refused before any work: rejected, whatever the status (an overload, a store that could
	// not check the credential), as the service did nothing it could fail at.
	d.outcome = OutcomeRejected
	return s.event(sub, d)
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

// requestHash keys a request body for its X-Request-ID: the kind, and the resource in its
// canonical JSON form (RFC 8785: members sorted, numbers and strings in one spelling), so that the
// same resource sent again with other whitespace or member order is the same request. The request
// id is bound to the kind as well as the body: the same body sent to another kind's route is
// another request (the /api/v1 and bare paths of one kind are one route). A body that is not JSON
// is keyed by its bytes.
func requestHash(kind Kind, body []byte) []byte {
	v := jsontext.Value(bytes.Clone(body))
	if err := v.Canonicalize(); err != nil {
		return exactHash(kind, body)
	}
	return exactHash(kind, v)
}

// exactHash keys the body's exact bytes: how request records were keyed before the canonical
// form, still matched so that a retry of such a request is not taken for another.
func exactHash(kind Kind, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil)
}

// withIdentity is the decision's answer with the number the provider sent: from the parsed
// request, or, for a request-id replay (decided before parsing), from parsing the body again.
func (s *Service) withIdentity(sub Submission, d decision) Issued {
	out := d.answer
	dr := d.draft
	if dr == nil {
		p, err := s.parse(sub)
		if err != nil {
			return out
		}
		dr = &p
	}
	if !dr.subject.PNR.IsZero() {
		out.Identity = dr.subject.PNR.Digits()
	}
	return out
}
