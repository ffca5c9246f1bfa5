// Package rotation holds the signing keys of one environment over time: the key in use, a
// staged successor that is published before it signs and takes over at a set time, and earlier
// DSCs kept for verification until they expire.
package rotation

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sedcc/dcc/signing/hcert"
)

// ErrRetired means the key that would sign at the time asked for has no signer (it was retired, or
// its stage is not loaded for signing).
var ErrRetired = errors.New("rotation: no signing key for this time")

// Stage is one DSC in the schedule: it signs from From until the next stage's From.
type Stage struct {
	// From is when the stage starts signing; zero for the first stage.
	From time.Time
	// DSC is the stage's certificate, published while it is valid.
	DSC *x509.Certificate
	// Signer signs with the stage's key. It may be nil for a stage that no longer signs (a
	// predecessor kept only so that its DSC stays published).
	Signer *hcert.Signer
}

// Schedule is an ordered set of stages. It is safe for concurrent use (it is never changed).
type Schedule struct {
	stages []Stage
	clock  func() time.Time
}

// New orders the stages by From and checks them: every stage has a DSC, every signer belongs
// to its stage's DSC, and no two stages start at the same time.
func New(clock func() time.Time, stages ...Stage) (*Schedule, error) {
	if len(stages) == 0 {
		return nil, errors.New("rotation: no signing key")
	}
	if clock == nil {
		clock = time.Now
	}
	st := slices.Clone(stages)
	slices.SortStableFunc(st, func(a, b Stage) int { return a.From.Compare(b.From) })
	for i, s := range st {
		if s.DSC == nil {
			return nil, fmt.Errorf("rotation: stage %d has no DSC", i)
		}
		if s.Signer != nil && !s.Signer.Certificate().Equal(s.DSC) {
			return nil, fmt.Errorf("rotation: stage %d: the signer's DSC is not the stage's", i)
		}
		if i > 0 && s.From.Equal(st[i-1].From) {
			return nil, fmt.Errorf("rotation: two keys start at %s", s.From.UTC().Format(time.RFC3339))
		}
	}
	return &Schedule{stages: st, clock: clock}, nil
}

// Single is a schedule of one key that always signs.
func Single(s *hcert.Signer) *Schedule {
	return &Schedule{stages: []Stage{{DSC: s.Certificate(), Signer: s}}, clock: time.Now}
}

// stageAt returns the index of the stage that signs at t: the last one that has started, or
// the first when none has.
func (s *Schedule) stageAt(t time.Time) int {
	i := 0
	for j, st := range s.stages {
		if !st.From.After(t) {
			i = j
		}
	}
	return i
}

// At returns the signer for an issuance at t.
func (s *Schedule) At(t time.Time) (*hcert.Signer, error) {
	st := s.stages[s.stageAt(t)]
	if st.Signer == nil {
		return nil, fmt.Errorf("%w: %s (DSC %s)", ErrRetired, t.UTC().Format(time.RFC3339), st.DSC.Subject.CommonName)
	}
	return st.Signer, nil
}

// Current is the stage that signs now.
func (s *Schedule) Current() Stage { return s.stages[s.stageAt(s.clock())] }

// Next is the staged successor of the current stage, if any: published, not signing yet.
func (s *Schedule) Next() (Stage, bool) {
	i := s.stageAt(s.clock())
	if i+1 < len(s.stages) && s.stages[i+1].From.After(s.clock()) {
		return s.stages[i+1], true
	}
	return Stage{}, false
}

// Published returns the DSCs verifiers need at now: every stage's DSC that has not expired,
// the staged ones before they sign and the superseded ones until the certificates they signed
// can no longer be valid (a certificate never outlives its DSC).
func (s *Schedule) Published(now time.Time) []*x509.Certificate {
	var out []*x509.Certificate
	for _, st := range s.stages {
		if now.Before(st.DSC.NotAfter) {
			out = append(out, st.DSC)
		}
	}
	return out
}

// Stages returns the stages in order.
func (s *Schedule) Stages() []Stage { return slices.Clone(s.stages) }

// KID is the key identifier of the DSC that signs now.
func (s *Schedule) KID() []byte {
	st := s.Current()
	if st.Signer != nil {
		return st.Signer.KID()
	}
	return nil
}

// SignCWT signs a CWT claims set with the key that signs now (the signing probe uses it).
func (s *Schedule) SignCWT(cwt []byte) ([]byte, error) {
	sg, err := s.At(s.clock())
	if err != nil {
		return nil, err
	}
	return sg.SignCWT(cwt)
}

// Certificate is the DSC that signs now.
func (s *Schedule) Certificate() *x509.Certificate { return s.Current().DSC }
