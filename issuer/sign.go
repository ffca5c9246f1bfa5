package issuer

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sedcc/dcc/fhir/problem"
	"github.com/sedcc/dcc/signing/dcc"
	"github.com/sedcc/dcc/signing/valueset"
)

// DiseaseCOVID19 is the SNOMED CT code of COVID-19, the only disease the certificates cover.
const DiseaseCOVID19 = "840539006"

// sign builds the payload, checks it against the schema limits, signs it with the principal's
// environment key and returns the certificate record to store.
func (s *Service) sign(sub Submission, d draft, id identity) (Certificate, dcc.Certificate, error) {
	signer := s.signers[sub.Principal.Environment]
	if signer == nil {
		return Certificate{}, dcc.Certificate{}, fmt.Errorf("no signer for environment %q", sub.Principal.Environment)
	}
	uvci, err := s.uvcis.For(ProviderCode(sub.Principal.ID), d.identifier)
	if err != nil {
		return Certificate{}, dcc.Certificate{}, fmt.Errorf("derive UVCI: %w", err)
	}
	now := s.now()
	payload := dcc.Certificate{Version: dcc.SchemaVersion, Name: id.name, DateOfBirth: id.birthDate}
	expires := now.Add(s.cfg.TestValidity)
	switch sub.Kind {
	case KindTest:
		t := d.test
		payload.Test = []dcc.Test{{
			Disease:         DiseaseCOVID19,
			Type:            t.TestType,
			Name:            t.DeviceName,
			Device:          t.DeviceID,
			SampleCollected: t.SampledAt.UTC().Format(time.RFC3339),
			Result:          t.Result,
			Centre:          t.Facility,
			Country:         s.cfg.Country,
			Issuer:          s.cfg.IssuerName,
			ID:              uvci,
		}}
	case KindRecovery:
		// The dates come from the policy the parser checked the window with.
		r := s.cfg.Policy.Recovery(d.test.SampledAt)
		payload.Recovery = []dcc.Recovery{{
			Disease:       DiseaseCOVID19,
			FirstPositive: r.FirstPositive.Format(time.DateOnly),
			Country:       s.cfg.Country,
			Issuer:        s.cfg.IssuerName,
			ValidFrom:     r.ValidFrom.Format(time.DateOnly),
			ValidUntil:    r.ValidUntil.Format(time.DateOnly),
			ID:            uvci,
		}}
		// The certificate cannot outlive the recovery it proves.
		expires = now.Add(s.cfg.RecoveryValidity)
		if r.End.Before(expires) {
			expires = r.End
		}
	case KindVaccination:
		v := d.vacc
		payload.Vaccination = []dcc.Vaccination{{
			Disease:      DiseaseCOVID19,
			Vaccine:      v.Prophylaxis,
			Product:      v.Product,
			Manufacturer: v.Manufacturer,
			DoseNumber:   v.Dose,
			TotalDoses:   v.Series,
			Date:         s.cfg.Policy.Date(v.OccurredAt),
			Country:      s.cfg.Country,
			Issuer:       s.cfg.IssuerName,
			ID:           uvci,
		}}
		expires = now.Add(s.cfg.VaccinationValidity)
	default:
		return Certificate{}, dcc.Certificate{}, fmt.Errorf("unknown kind %q", sub.Kind)
	}
	if err := payload.Validate(); err != nil {
		return Certificate{}, dcc.Certificate{}, payloadProblems(err)
	}
	if err := payload.ValidateCodes(s.values()); err != nil {
		return Certificate{}, dcc.Certificate{}, payloadProblems(err)
	}
	// No certificate outlives the DSC that signs it (the signer caps exp the same way).
	if _, notAfter := signer.Validity(); notAfter.Before(expires) {
		expires = notAfter
	}
	hc1, err := signer.Sign(payload, now, expires)
	if errors.Is(err, ErrSigningUnavailable) {
		sh := s.signerValidity(sub.Principal.Environment, signer)
		if sh.Err == nil {
			sh.Err, sh.RetryAfter = err, s.cfg.SigningRetryAfter
		}
		return Certificate{}, dcc.Certificate{}, signingUnavailable(sh)
	}
	if err != nil {
		return Certificate{}, dcc.Certificate{}, fmt.Errorf("sign %s: %w", uvci, err)
	}
	return Certificate{
		UVCI:           uvci,
		ProviderID:     sub.Principal.ID,
		Identifier:     d.identifier,
		Kind:           sub.Kind,
		Environment:    sub.Principal.Environment,
		ContentHash:    d.contentHash,
		SubjectKey:     d.subjectKey,
		HC1:            hc1,
		KID:            signer.KID(),
		IdentitySource: id.source,
		Delivery:       id.delivery,
		RequestID:      sub.RequestID,
		IssuedAt:       now,
		ExpiresAt:      expires,
	}, payload, nil
}

// ProviderCode is the code a provider's UVCIs carry: its principal id without the "p_" and in
// capitals (principal ids are "p_" and 16 base32 letters, unique in the store), so that two
// providers' UVCIs can never be equal.
func ProviderCode(principalID string) string {
	return strings.ToUpper(strings.TrimPrefix(principalID, "p_"))
}

func (s *Service) values() *valueset.Catalogue { return s.catalogue }

// payloadProblems turns a payload that breaks the schema into problems. Input validation should
// have caught every such case; reaching here names the field rather than failing blindly.
func payloadProblems(err error) error {
	var ve *dcc.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	p := make(problem.List, 0, len(ve.Problems))
	for _, fe := range ve.Problems {
		// The field and the rule only: the message may quote the value, which can be personal data.
		p = append(p, problem.Make(problem.CodeCertificateInvalid, "",
			fmt.Sprintf("The certificate field %s would not be valid (%s). Check the corresponding element of the request.", fe.Field, fe.Code)))
	}
	return p
}
