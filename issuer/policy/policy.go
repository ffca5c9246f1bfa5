// Package policy is the issuance policy: the calendar rules that both the reading of a request
// (fhir, which refuses a recovery outside its window) and the building of a certificate (issuer,
// which writes fr, df and du) apply. One Issuance value is built at wiring and given to both, so
// the check and the payload cannot disagree about a window or about which day it is.
//
// It imports nothing of the service but the problem table, so fhir and issuer can both use it.
package policy

import (
	"fmt"
	"sync"
	"time"
	_ "time/tzdata" // certificates show Swedish dates on any host

	"github.com/sedcc/dcc/fhir/problem"
)

// Defaults of the zero Issuance.
const (
	DefaultZone          = "Europe/Stockholm"
	DefaultRecoveryFrom  = 11  // days after the positive sample (DCC df)
	DefaultRecoveryUntil = 180 // days after the positive sample (DCC du)
)

// Issuance is the policy. Its zero value is the default policy.
type Issuance struct {
	// Zone is where calendar days are counted and certificate dates shown (Europe/Stockholm):
	// a sample taken at 23:30 UTC in winter was taken on the next day in Sweden.
	Zone *time.Location
	// RecoveryFrom is the day after the positive sample from which a recovery certificate is
	// valid (df = fr + RecoveryFrom); before it none is issued.
	RecoveryFrom int
	// RecoveryUntil is the last day after the positive sample on which a recovery certificate is
	// valid (du = fr + RecoveryUntil); after it none is issued.
	RecoveryUntil int
}

// defaultZone is loaded once; the zone data is embedded (time/tzdata), so only a broken binary
// falls back to UTC.
var defaultZone = sync.OnceValue(func() *time.Location {
	loc, err := time.LoadLocation(DefaultZone)
	if err != nil {
		return time.UTC
	}
	return loc
})

// New checks p and fills in the defaults of its zero fields.
func New(p Issuance) (Issuance, error) {
	p = p.orDefault()
	if p.RecoveryFrom < 0 || p.RecoveryUntil < p.RecoveryFrom {
		return Issuance{}, fmt.Errorf("policy: recovery window %d to %d days, want 0 <= from <= until", p.RecoveryFrom, p.RecoveryUntil)
	}
	return p, nil
}

// Default is the default policy.
func Default() Issuance { return Issuance{}.orDefault() }

// orDefault fills in the defaults, so that a zero Issuance is the default policy.
func (p Issuance) orDefault() Issuance {
	if p.Zone == nil {
		p.Zone = defaultZone()
	}
	if p.RecoveryFrom == 0 {
		p.RecoveryFrom = DefaultRecoveryFrom
	}
	if p.RecoveryUntil == 0 {
		p.RecoveryUntil = DefaultRecoveryUntil
	}
	return p
}

// Day is the calendar day on which t falls in the policy's zone, as midnight UTC of that date
// (so that days can be added and compared without a zone).
func (p Issuance) Day(t time.Time) time.Time {
	y, m, d := t.In(p.orDefault().Zone).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Date is Day formatted as a DCC date (YYYY-MM-DD).
func (p Issuance) Date(t time.Time) string { return p.Day(t).Format(time.DateOnly) }

// Recovery is what a recovery certificate says about its positive sample.
type Recovery struct {
	FirstPositive time.Time // fr: the day of the sample
	ValidFrom     time.Time // df: fr + RecoveryFrom days
	ValidUntil    time.Time // du: fr + RecoveryUntil days
	// End is the last instant of du in the policy's zone: the certificate must not outlive it.
	End time.Time
}

// Recovery computes the dates of a recovery certificate for a positive sample taken at sampled.
func (p Issuance) Recovery(sampled time.Time) Recovery {
	p = p.orDefault()
	fr := p.Day(sampled)
	du := fr.AddDate(0, 0, p.RecoveryUntil)
	return Recovery{
		FirstPositive: fr,
		ValidFrom:     fr.AddDate(0, 0, p.RecoveryFrom),
		ValidUntil:    du,
		End:           time.Date(du.Year(), du.Month(), du.Day(), 23, 59, 59, 0, p.Zone),
	}
}

// CheckRecovery decides whether a positive sample taken at sampled qualifies at now for a
// recovery certificate: it does exactly when the certificate the policy would write is valid on
// the day of issuance (df <= today <= du, days counted in the policy's zone). Otherwise it
// returns the problem, located at path.
func (p Issuance) CheckRecovery(sampled, now time.Time, path string) *problem.Problem {
	p = p.orDefault()
	r := p.Recovery(sampled)
	today := p.Day(now)
	switch {
	case today.Before(r.ValidFrom):
		pr := problem.Make(problem.CodeRecoveryTooRecent, path, fmt.Sprintf(
			"A recovery certificate can be issued from day %d after the positive sample (days counted in Swedish time); for this sample from %s. Send the request again then.",
			p.RecoveryFrom, r.ValidFrom.Format(time.DateOnly)))
		return &pr
	case today.After(r.ValidUntil):
		pr := problem.Make(problem.CodeRecoveryTooOld, path, fmt.Sprintf(
			"The positive sample is more than %d days old; a recovery certificate is issued only up to %d days after it.",
			p.RecoveryUntil, p.RecoveryUntil))
		return &pr
	}
	return nil
}
