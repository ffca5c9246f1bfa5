package issuer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	_ "time/tzdata" // certificates show dates in Swedish time on any host

	"github.com/sedcc/dcc/fhir"
	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/registry"
	"github.com/sedcc/dcc/signing/dcc"
)

// identity is who a certificate is issued to, and how the service knows.
type identity struct {
	name      dcc.Name
	birthDate string
	source    IdentitySource
	delivery  Delivery
	notes     []string
}

const patientPath = "Patient.identifier[0].value"

// resolve applies the register policy:
//   - no personnummer: the name and birth date sent (source "provided", handed out by the provider);
//   - the register answers: its name and birth date win over what was sent (a mismatch is noted);
//   - not found: 422 person-not-found;
//   - unavailable: the birth-date fallback when name and birth date were sent and the birth date
//     agrees with the personnummer; 422 when it contradicts it; 503 register-unavailable when no
//     name was sent.
//
// Sandbox requests are resolved against the sandbox register (a test population), never the
// population register.
func (s *Service) resolve(ctx context.Context, env Environment, subj fhir.Subject) (identity, error) {
	if subj.PNR.IsZero() {
		n, err := newName(subj.FamilyName, subj.GivenName)
		if err != nil {
			return identity{}, err
		}
		return identity{name: n, birthDate: subj.BirthDate, source: SourceProvided, delivery: DeliveryHandout}, nil
	}

	person, err := s.registerFor(env).Lookup(ctx, subj.PNR)
	switch {
	case err == nil:
		if person.Deceased {
			return identity{}, problem.New(problem.CodePersonDeceased, patientPath, "")
		}
		n, err := newName(person.FamilyName, person.GivenName)
		if err != nil {
			return identity{}, err
		}
		id := identity{name: n, birthDate: person.BirthDate, source: SourceRegister, delivery: s.numberDelivery(env)}
		if subj.FamilyName != "" && !sameName(subj.FamilyName, person.FamilyName) || subj.GivenName != "" && !sameName(subj.GivenName, person.GivenName) {
			id.notes = append(id.notes, "register-name-mismatch")
		}
		if subj.BirthDate != "" && subj.BirthDate != person.BirthDate {
			id.notes = append(id.notes, "register-birthdate-mismatch")
		}
		if person.Protected {
			id.notes = append(id.notes, "protected-identity")
		}
		return id, nil
	case errors.Is(err, registry.ErrRejected):
		return identity{}, problem.New(problem.CodePersonnummerRejected, patientPath, "")
	case errors.Is(err, registry.ErrNotFound):
		return identity{}, problem.New(problem.CodePersonNotFound, patientPath, "")
	case ctx.Err() != nil:
		// The caller has gone: no fallback, and nothing wrong with the register.
		return identity{}, fmt.Errorf("look up person: %w", ctx.Err())
	case registry.Outage(err):
		id, err := s.fallback(ctx, subj, err)
		if err == nil {
			id.delivery = s.numberDelivery(env)
		}
		return id, err
	default:
		// The register answered in a way the service cannot use (refused the service's
		// credentials, a malformed answer): a fault to fix, which the fallback must not hide by
		// issuing on what the provider claims.
		// The cause travels with the answer: the HTTP layer logs it once, where it renders it.
		return identity{}, s.registerUnavailable(fmt.Errorf("population register unusable, no fallback: %w", err))
	}
}

// registerUnavailable is the answer when the register cannot say who the person is, with the
// register's failure as its cause.
func (s *Service) registerUnavailable(cause error) error {
	p := problem.New(problem.CodeRegisterUnavailable, "Patient", "").WithRetryAfter(s.cfg.RegisterRetryAfter)
	return fmt.Errorf("%w: %w", p, cause)
}

// fallback is the birth-date routine used while the register cannot answer (cause says why).
func (s *Service) fallback(ctx context.Context, subj fhir.Subject, cause error) (identity, error) {
	if subj.FamilyName == "" && subj.GivenName == "" || subj.BirthDate == "" {
		return identity{}, s.registerUnavailable(fmt.Errorf("population register unavailable, no name and birth date for the fallback: %w", cause))
	}
	if subj.BirthDate != subj.PNR.BirthDate().Format("2006-01-02") {
		return identity{}, problem.New(problem.CodeBirthDateMismatch, "Patient.birthDate", "")
	}
	n, err := newName(subj.FamilyName, subj.GivenName)
	if err != nil {
		return identity{}, err
	}
	// Issued all the same, so no answer carries the cause: it is logged here.
	s.log.WarnContext(ctx, "population register unavailable; birth-date fallback", "err", cause)
	return identity{name: n, birthDate: subj.BirthDate, source: SourceFallback, delivery: DeliveryHandout,
		notes: []string{"register-unavailable"}}, nil
}

// newName builds the DCC name with its ICAO 9303 standardised form.
func newName(family, given string) (dcc.Name, error) {
	n, err := dcc.NewName(family, given)
	if err != nil {
		return dcc.Name{}, problem.New(problem.CodeNameNotTransliterable, "Patient.name", "")
	}
	return n, nil
}

func sameName(a, b string) bool {
	return strings.EqualFold(strings.Join(strings.Fields(a), " "), strings.Join(strings.Fields(b), " "))
}

// numberDelivery is how a person with a personnummer gets a certificate of the environment:
// from the citizen service when it is served and shows that environment's certificates
// (production always; sandbox only where CitizenSandbox says so), else from the provider's hands.
func (s *Service) numberDelivery(env Environment) Delivery {
	if s.cfg.CitizenService && (env == Production || s.cfg.CitizenSandbox) {
		return DeliveryCitizen
	}
	return DeliveryHandout
}
