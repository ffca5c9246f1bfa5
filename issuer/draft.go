package issuer

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/sedcc/dcc/fhir"
	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/registry/pnr"
)

// draft is a parsed, validated request on its way to becoming a certificate.
type draft struct {
	resource   string // Observation or Immunization
	identifier string
	subject    fhir.Subject
	testData   string // FHIRPath of the HTEST mark; "" when not test data
	// contentHash keys the request's content in a fixed form: it tells a retry from a
	// conflicting reuse of the Identifier.
	contentHash []byte
	// subjectKey is the keyed hash of the personnummer; nil when the person has none.
	subjectKey []byte
	test       *fhir.TestResult
	vacc       *fhir.Vaccination
}

// parse reads and validates the body and computes, once, the keyed hashes the request needs.
// On problems the draft holds what could be read (resource, subject, test-data mark), so that the
// environment rules can be reported together with them.
func (s *Service) parse(sub Submission) (draft, error) {
	d, canon, err := s.parseBody(sub)
	if err != nil {
		return d, err
	}
	d.contentHash = s.contentHash(sub.Kind, canon)
	if !d.subject.PNR.IsZero() {
		d.subjectKey = s.subjectKeyIn(sub.Principal.Environment, d.subject.PNR.Digits())
	}
	return d, nil
}

// parseBody returns the draft and its canonical content.
func (s *Service) parseBody(sub Submission) (draft, []byte, error) {
	switch sub.Kind {
	case KindTest, KindRecovery:
		parse := s.parser.Test
		if sub.Kind == KindRecovery {
			parse = s.parser.Recovery
		}
		t, err := parse(sub.Body)
		if err != nil {
			return draft{resource: "Observation", subject: t.Subject, testData: t.TestDataPath}, nil, err
		}
		c := t
		c.SampledAt = c.SampledAt.UTC()
		return draft{
			resource:   "Observation",
			identifier: t.Identifier,
			subject:    t.Subject,
			testData:   t.TestDataPath,
			test:       &t,
		}, canonical(c, t.Subject.PNR), nil
	case KindVaccination:
		v, err := s.parser.Vaccination(sub.Body)
		if err != nil {
			return draft{resource: "Immunization", subject: v.Subject, testData: v.TestDataPath}, nil, err
		}
		c := v
		c.OccurredAt = c.OccurredAt.UTC()
		return draft{
			resource:   "Immunization",
			identifier: v.Identifier,
			subject:    v.Subject,
			testData:   v.TestDataPath,
			vacc:       &v,
		}, canonical(c, v.Subject.PNR), nil
	}
	return draft{}, nil, fmt.Errorf("unknown kind %q", sub.Kind)
}

// identifierPath is the FHIRPath of the provider's Identifier.
func (d draft) identifierPath() string { return d.resource + ".identifier[0].value" }

// canonical encodes a parsed request. The personnummer type masks itself when encoded, so its
// digits are appended explicitly; the result is only ever hashed.
func canonical(v any, n pnr.Number) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// The parsed types are plain data; failing to encode them is a programming error that
		// must not turn two different requests into one.
		b = []byte(fmt.Sprintf("%#v", v))
	}
	b = append(b, 0)
	return append(b, n.Digits()...)
}

// DefaultTestIdentities are personnummer known to be test identities, refused in production.
// 191212121212 (Tolvan Tolvansson) is the test number used in public examples; operators add the
// tax agency's published test ranges through configuration (docs/security.md).
var DefaultTestIdentities = []string{"191212121212"}

// environmentRules keeps test data out of production: a production credential's request is
// refused when the resource is tagged as test data or the person is a known test identity.
func (s *Service) environmentRules(p Principal, d draft) error {
	if p.Environment != Production {
		return nil
	}
	if d.testData != "" {
		return problem.New(problem.CodeTestDataInProduction, d.testData,
			"This resource is tagged as test data (HTEST) and was sent with a production credential. Send test data with your sandbox credential.")
	}
	if !d.subject.PNR.IsZero() && s.isTestIdentity(d.subject.PNR.Digits()) {
		return problem.New(problem.CodeTestDataInProduction, "Patient.identifier[0].value",
			"This personnummer is a known test identity and was sent with a production credential. Send test data with your sandbox credential.")
	}
	return nil
}

// withEnvironmentRules adds the environment rules' finding to the problems of a request that did
// not parse, first: sending test data with a production credential is the cause a provider fixes
// first, and the other problems are reported with it rather than after a second try.
func (s *Service) withEnvironmentRules(p Principal, d draft, err error) error {
	probs, ok := problem.As(err)
	if !ok {
		return err
	}
	env := s.environmentRules(p, d)
	if env == nil {
		return err
	}
	extra, _ := problem.As(env)
	return append(slices.Clone(extra), probs...)
}

func (s *Service) isTestIdentity(digits string) bool {
	for _, t := range s.cfg.TestIdentities {
		if strings.HasPrefix(digits, t) {
			return true
		}
	}
	return false
}
