package metrics

import (
	"context"
	"time"

	"github.com/sedcc/dcc/issuer"
)

func (t *timedStore) OpenIncident(ctx context.Context, e issuer.StatusEvent) error {
	return t.timedErr("OpenIncident", func() error { return t.s.OpenIncident(ctx, e) })
}

func (t *timedStore) OpenIncidentFor(ctx context.Context, dependency string) (issuer.StatusEvent, error) {
	return timed(t, "OpenIncidentFor", func() (issuer.StatusEvent, error) { return t.s.OpenIncidentFor(ctx, dependency) })
}

func (t *timedStore) PostNotice(ctx context.Context, e issuer.StatusEvent) error {
	return t.timedErr("PostNotice", func() error { return t.s.PostNotice(ctx, e) })
}

func (t *timedStore) CloseStatusEvent(ctx context.Context, id string, at time.Time) error {
	return t.timedErr("CloseStatusEvent", func() error { return t.s.CloseStatusEvent(ctx, id, at) })
}

func (t *timedStore) StatusEvents(ctx context.Context, since time.Time, limit int) ([]issuer.StatusEvent, error) {
	return timed(t, "StatusEvents", func() ([]issuer.StatusEvent, error) { return t.s.StatusEvents(ctx, since, limit) })
}
