package policy

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sedcc/dcc/fhir/problem"
)

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRecoveryWindowEdges: the window's first and last day, for samples sent in several offsets,
// with windows that cross both changes of Swedish daylight saving time (29 March and 25 October
// 2026). Days are counted in Swedish time whatever offset the provider sent.
func TestRecoveryWindowEdges(t *testing.T) {
	p := Default()
	cases := []struct {
		name, sampled, now string
		fr                 string // the certificate's fr
		want               string // "" qualifies, else the problem code
	}{
		// 23:30 UTC in winter is 00:30 the next day in Sweden: the next day is fr.
		{"UTC late evening, day 10", "2026-01-10T23:30:00Z", "2026-01-21T22:59:59Z", "2026-01-11", problem.CodeRecoveryTooRecent},
		{"UTC late evening, day 11", "2026-01-10T23:30:00Z", "2026-01-21T23:00:00Z", "2026-01-11", ""},
		// The provider's own date (10 January in New York) is not the certificate's.
		{"New York evening, day 10", "2026-01-10T19:30:00-05:00", "2026-01-21T12:00:00-05:00", "2026-01-11", problem.CodeRecoveryTooRecent},
		{"New York evening, day 11", "2026-01-10T19:30:00-05:00", "2026-01-21T18:00:00-05:00", "2026-01-11", ""},
		// +14:00 is a day ahead of Sweden: 11 January there is 10 January in Sweden.
		{"Kiribati morning, day 11", "2026-01-11T05:00:00+14:00", "2026-01-20T23:00:00Z", "2026-01-10", ""},
		{"Kiribati morning, day 10", "2026-01-11T05:00:00+14:00", "2026-01-20T22:59:59Z", "2026-01-10", problem.CodeRecoveryTooRecent},
		// Spring: the window holds the 23-hour day of 29 March; day 11 begins at 22:00 UTC.
		{"spring change, day 10", "2026-03-18T23:30:00Z", "2026-03-29T21:59:59Z", "2026-03-19", problem.CodeRecoveryTooRecent},
		{"spring change, day 11", "2026-03-18T23:30:00Z", "2026-03-29T22:00:00Z", "2026-03-19", ""},
		{"spring change, Swedish offset", "2026-03-19T00:30:00+01:00", "2026-03-30T00:00:00+02:00", "2026-03-19", ""},
		// Autumn: the window holds the 25-hour day of 25 October; day 11 begins at 23:00 UTC.
		{"autumn change, day 10", "2026-10-14T22:30:00Z", "2026-10-25T22:59:59Z", "2026-10-15", problem.CodeRecoveryTooRecent},
		{"autumn change, day 11", "2026-10-14T22:30:00Z", "2026-10-25T23:00:00Z", "2026-10-15", ""},
		// The last day, du = fr + 180, ends at midnight Swedish time, summer and winter.
		{"du in summer, last second", "2026-01-10T23:30:00Z", "2026-07-10T21:59:59Z", "2026-01-11", ""},
		{"du in summer, next day", "2026-01-10T23:30:00Z", "2026-07-10T22:00:00Z", "2026-01-11", problem.CodeRecoveryTooOld},
		{"du after autumn change, last second", "2026-05-01T12:00:00+02:00", "2026-10-28T22:59:59Z", "2026-05-01", ""},
		{"du after autumn change, next day", "2026-05-01T12:00:00+02:00", "2026-10-28T23:00:00Z", "2026-05-01", problem.CodeRecoveryTooOld},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sampled, now := at(t, tc.sampled), at(t, tc.now)
			r := p.Recovery(sampled)
			if got := r.FirstPositive.Format(time.DateOnly); got != tc.fr {
				t.Errorf("fr %s, want %s", got, tc.fr)
			}
			pr := p.CheckRecovery(sampled, now, "Observation.effectiveDateTime")
			switch {
			case tc.want == "" && pr != nil:
				t.Fatalf("refused with %s: %s", pr.Code, pr.Text)
			case tc.want != "" && (pr == nil || pr.Code != tc.want):
				t.Fatalf("got %+v, want %s", pr, tc.want)
			case pr != nil && (pr.Expression != "Observation.effectiveDateTime" || pr.Class != problem.ClassInvalid):
				t.Errorf("problem %+v", pr)
			}
			if tc.want == "" {
				validOnIssue(t, p, sampled, now)
			}
		})
	}
}

// validOnIssue: a certificate issued at now is valid that day (df <= today <= du in Swedish
// time) and its end is not before now.
func validOnIssue(t *testing.T, p Issuance, sampled, now time.Time) {
	t.Helper()
	r := p.Recovery(sampled)
	today := p.Day(now)
	if today.Before(r.ValidFrom) || today.After(r.ValidUntil) || r.End.Before(now) {
		t.Errorf("issued %s (Swedish date %s): df %s du %s end %s", now.Format(time.RFC3339), today.Format(time.DateOnly),
			r.ValidFrom.Format(time.DateOnly), r.ValidUntil.Format(time.DateOnly), r.End)
	}
}

// TestRecoveryCheckAgreesWithDates: for samples and issuing times in any offset around the
// window's edges, the check accepts exactly the requests whose certificate is valid on the day
// it is issued.
func TestRecoveryCheckAgreesWithDates(t *testing.T) {
	p := Default()
	rng := rand.New(rand.NewPCG(1, 2))
	base := at(t, "2026-01-01T00:00:00Z")
	for i := 0; i < 20000; i++ {
		sampled := base.Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour)))).In(time.FixedZone("", (rng.IntN(27)-12)*3600))
		edge := []int{p.RecoveryFrom, p.RecoveryUntil + 1}[rng.IntN(2)]
		now := sampled.AddDate(0, 0, edge).Add(time.Duration(rng.Int64N(int64(72*time.Hour))) - 36*time.Hour)
		r := p.Recovery(sampled)
		today := p.Day(now)
		valid := !today.Before(r.ValidFrom) && !today.After(r.ValidUntil)
		pr := p.CheckRecovery(sampled, now, "")
		if valid != (pr == nil) {
			t.Fatalf("sampled %s now %s: check %v, certificate valid that day %v", sampled, now, pr, valid)
		}
		if valid && r.End.Before(now) {
			t.Fatalf("sampled %s now %s: issued after its end %s", sampled, now, r.End)
		}
	}
}

func TestNew(t *testing.T) {
	p, err := New(Issuance{})
	if err != nil || p.Zone.String() != DefaultZone || p.RecoveryFrom != 11 || p.RecoveryUntil != 180 {
		t.Fatalf("defaults %+v %v", p, err)
	}
	if _, err := New(Issuance{RecoveryFrom: 30, RecoveryUntil: 20}); err == nil {
		t.Error("a window that ends before it begins was accepted")
	}
	p, err = New(Issuance{RecoveryFrom: 14, RecoveryUntil: 90, Zone: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Recovery(at(t, "2026-01-10T23:30:00Z"))
	if r.FirstPositive.Format(time.DateOnly) != "2026-01-10" || r.ValidFrom.Format(time.DateOnly) != "2026-01-24" || r.ValidUntil.Format(time.DateOnly) != "2026-04-10" {
		t.Errorf("configured window %+v", r)
	}
}
