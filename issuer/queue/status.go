package queue

import (
	"context"
	"fmt"
	"math"

	"github.com/sedcc/dcc/issuer/status"
)

// DependencyName is the queue's entry on the status page.
const DependencyName = "queue"

// Probe is the queue's light for /status: green while newcomers are let in at once, yellow
// while they wait, with the wait a newcomer has. It is never red: a queue is the service
// coping with a rush, not failing.
func (q *Queue) Probe() status.Probe {
	return func(context.Context) (status.Light, string) {
		s := q.Stats()
		if !s.Engaged {
			return status.Green, fmt.Sprintf("No queue: citizens are let in at once (up to %s a second).", rate(s.Rate))
		}
		return status.Yellow, fmt.Sprintf("Many citizens are signing in: newcomers wait about %s in the queue (%d places ahead), let in at %s a second.",
			minutes(s.Wait.Minutes()), s.Length, rate(s.Rate))
	}
}

func rate(r float64) string {
	if r == math.Trunc(r) {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.2f", r)
}

func minutes(m float64) string {
	if m < 1 {
		return "less than a minute"
	}
	n := int(math.Ceil(m))
	if n == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", n)
}
