package fhir

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sedcc/dcc/fhir/problem"
)

var (
	zonelessDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$`)
	dateOnly         = regexp.MustCompile(`^\d{4}(-\d{2}(-\d{2})?)?$`)
	// A date-time whose only faults are an offset without colon (+0100) and/or no seconds.
	almostDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$`)
	noSeconds      = regexp.MustCompile(`T\d{2}:\d{2}(Z|[+-]|$)`)
	offsetNoColon  = regexp.MustCompile(`[+-]\d{4}$`)
)

// dateTime reads a FHIR dateTime that must name an instant: RFC 3339 with seconds and with "Z" or
// a numeric offset. element names the element in texts (e.g. "effectiveDateTime"), example is a
// valid value to show.
func dateTime(r *report, path, value, element, example string) (time.Time, bool) {
	if value == "" {
		r.add(problem.CodeRequired, path, fmt.Sprintf("Send %s as an RFC 3339 date-time with zone, e.g. %s.", element, example))
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, value)
	switch {
	case err == nil:
		return t, true
	case zonelessDateTime.MatchString(value):
		seconds := ""
		if noSeconds.MatchString(value) {
			seconds = " and the seconds (hh:mm:ss)"
		}
		r.add(problem.CodeTimezoneMissing, path, fmt.Sprintf(
			"Add the time zone%s to %s: \"Z\" for UTC or the offset, e.g. %s; a time without zone is ambiguous.", seconds, element, example))
	case almostDateTime.MatchString(value):
		var fix []string
		if offsetNoColon.MatchString(value) {
			fix = append(fix, "write the offset with a colon, +01:00 rather than +0100")
		}
		if noSeconds.MatchString(value) {
			fix = append(fix, "give the time with seconds, hh:mm:ss (09:30:00 rather than 09:30)")
		}
		r.add(problem.CodeDateTimeInvalid, path, fmt.Sprintf(
			"In %s, %s: RFC 3339 as FHIR requires, e.g. %s.", element, strings.Join(fix, ", and "), example))
	case dateOnly.MatchString(value):
		r.add(problem.CodeDateTimeInvalid, path, fmt.Sprintf(
			"Send %s with the time of day and zone, e.g. %s; a date alone is not enough.", element, example))
	default:
		r.add(problem.CodeDateTimeInvalid, path, fmt.Sprintf(
			"Send %s as an RFC 3339 date-time with seconds and zone, e.g. %s.", element, example))
	}
	return time.Time{}, false
}

// civilDate is a calendar date, free of time of day and zone.
type civilDate struct {
	year  int
	month time.Month
	day   int
}

func dateOf(t time.Time) civilDate {
	y, m, d := t.Date()
	return civilDate{y, m, d}
}

func (c civilDate) time() time.Time { return time.Date(c.year, c.month, c.day, 0, 0, 0, 0, time.UTC) }

func (c civilDate) before(o civilDate) bool { return c.time().Before(o.time()) }
