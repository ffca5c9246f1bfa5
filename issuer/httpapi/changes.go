package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sedcc/dcc/issuer"
)

// APIChange is a change of a route announced ahead (docs/api-changes.md): from Deprecated on, the
// route's answers carry a Deprecation header (RFC 9745) and a Sunset header (RFC 8594) with the
// time it changes or goes, and the status feed carries a notice for the whole window.
type APIChange struct {
	// ID names the change for good; the status notice's id is "api-change-" + ID.
	ID string
	// Method and Path are the route as registered (Path like "/api/v1/observation").
	Method, Path string
	// Deprecated is when the change was announced; Sunset when the old behaviour ends.
	Deprecated, Sunset time.Time
	// Summary says what changes and what to do, for the status notice.
	Summary string
}

// ScheduledChanges is the one table of announced API changes: dccd passes it to Options.Changes
// and to PublishChanges. A change is added here, with at least the notice period of
// docs/api-changes.md between Deprecated and Sunset, and released; nothing else is needed.
// Nothing is scheduled today.
func ScheduledChanges() []APIChange {
	return nil
}

// changeHeaders sets the deprecation headers of an announced change on the answers of its route.
func changeHeaders(changes []APIChange) echo.MiddlewareFunc {
	byRoute := map[string]APIChange{}
	for _, ch := range changes {
		byRoute[ch.Method+" "+ch.Path] = ch
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if ch, ok := byRoute[c.Request().Method+" "+c.Path()]; ok {
				h := c.Response().Header()
				// RFC 9745: a structured-field Date, "@" and seconds since the epoch.
				h.Set("Deprecation", "@"+strconv.FormatInt(ch.Deprecated.Unix(), 10))
				h.Set("Sunset", ch.Sunset.UTC().Format(http.TimeFormat))
				h.Add("Link", `</status>; rel="deprecation"; type="text/html"`)
				h.Add("Link", `</status>; rel="sunset"; type="text/html"`)
			}
			return next(c)
		}
	}
}

// Notice is the change's status notice: its window runs from the announcement to the sunset.
func (ch APIChange) Notice(now time.Time) issuer.StatusEvent {
	until := ch.Sunset.UTC()
	return issuer.StatusEvent{
		ID:    "api-change-" + ch.ID,
		Title: fmt.Sprintf("API change: %s %s changes on %s", ch.Method, ch.Path, until.Format("2006-01-02")),
		Body: ch.Summary + " Announced " + ch.Deprecated.UTC().Format("2006-01-02") +
			"; until then the route answers with Deprecation and Sunset headers. Policy: docs/api-changes.md.",
		OpenedAt: ch.Deprecated.UTC(), UpdatedAt: now.UTC(), Until: &until,
	}
}

// PublishChanges posts the status notice of every announced change not yet published and not yet
// past its sunset, so that providers following the status feed see each announcement. It is
// called at start; a notice already there (from an earlier start or another instance) is left.
func PublishChanges(ctx context.Context, st issuer.StatusStore, changes []APIChange, now time.Time) (int, error) {
	if len(changes) == 0 {
		return 0, nil
	}
	events, err := st.StatusEvents(ctx, now, 1000)
	if err != nil {
		return 0, fmt.Errorf("read status notices: %w", err)
	}
	have := map[string]bool{}
	for _, e := range events {
		have[e.ID] = true
	}
	posted := 0
	for _, ch := range changes {
		n := ch.Notice(now)
		if have[n.ID] || !now.Before(ch.Sunset) {
			continue
		}
		if err := st.PostNotice(ctx, n); err != nil {
			return posted, fmt.Errorf("publish the notice of API change %s: %w", ch.ID, err)
		}
		posted++
	}
	return posted, nil
}
