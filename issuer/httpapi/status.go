package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/feeds"
	"github.com/labstack/echo/v4"
	"github.com/munnerz/goautoneg"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/policy"
	"github.com/sedcc/dcc/issuer/status"
)

// StatusSource is what the status routes show; a *status.Monitor is one.
type StatusSource interface {
	Snapshot() status.Snapshot
}

// statusRoutes registers the public status page and its feed. Without a StatusSource they
// answer 404.
func (s *Server) statusRoutes() {
	page, err := template.New("status").Funcs(template.FuncMap{"when": localTime, "label": lightLabel}).Parse(statusPageHTML)
	s.add(http.MethodGet, "/status", func(c echo.Context) error {
		if err != nil {
			return fmt.Errorf("status page template: %w", err)
		}
		return s.statusPage(c, page)
	}, "public")
	s.add(http.MethodGet, "/status/feed.xml", s.statusFeed, "public")
}

func (s *Server) snapshot() (status.Snapshot, error) {
	if s.status == nil {
		return status.Snapshot{}, echo.ErrNotFound
	}
	return s.status.Snapshot(), nil
}

// wantsJSON: ?format=json or ?format=html decide; otherwise the Accept header does, and HTML is
// the default (browsers, and clients that accept anything).
func wantsJSON(c echo.Context) bool {
	switch c.QueryParam("format") {
	case "json":
		return true
	case "html":
		return false
	}
	accept := c.Request().Header.Get(echo.HeaderAccept)
	if accept == "" {
		return false
	}
	return goautoneg.Negotiate(accept, []string{"text/html", "application/json"}) == "application/json"
}

func (s *Server) statusPage(c echo.Context, page *template.Template) error {
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Vary", "Accept")
	h.Set("Cache-Control", "no-cache")
	if wantsJSON(c) {
		return c.JSON(http.StatusOK, statusJSON(snap))
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, snap); err != nil {
		return fmt.Errorf("render status page: %w", err)
	}
	h.Set("Content-Security-Policy", statusPageCSP())
	h.Set("X-Content-Type-Options", "nosniff")
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

// statusView is the JSON answer of GET /status.
type statusView struct {
	Status       string           `json:"status"`
	Summary      string           `json:"summary"`
	CheckedAt    *time.Time       `json:"checkedAt,omitempty"`
	Dependencies []dependencyView `json:"dependencies"`
	Open         []eventView      `json:"open"`
	Planned      []eventView      `json:"planned"`
	History      []eventView      `json:"history"`
	EventsAt     *time.Time       `json:"eventsAt,omitempty"`
	EventsStale  bool             `json:"eventsStale"`
}

type dependencyView struct {
	Name     string     `json:"name"`
	Title    string     `json:"title"`
	Status   string     `json:"status"`
	Message  string     `json:"message"`
	Since    *time.Time `json:"since,omitempty"`
	Critical bool       `json:"critical"`
}

type eventView struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Dependency string     `json:"dependency,omitempty"`
	Title      string     `json:"title"`
	Body       string     `json:"body"`
	OpenedAt   time.Time  `json:"openedAt"`
	UpdatedAt  time.Time  `json:"updatedAt"`
	ClosedAt   *time.Time `json:"closedAt,omitempty"`
	Until      *time.Time `json:"until,omitempty"`
}

func statusJSON(s status.Snapshot) statusView {
	v := statusView{Status: string(s.Service), Summary: s.Summary, CheckedAt: utcOrNil(s.CheckedAt),
		Dependencies: []dependencyView{}, Open: events(s.Open), Planned: events(s.Planned), History: events(s.History),
		EventsAt: utcOrNil(s.EventsAt), EventsStale: s.EventsStale}
	for _, d := range s.Dependencies {
		v.Dependencies = append(v.Dependencies, dependencyView{Name: d.Name, Title: d.Title, Status: string(d.Light),
			Message: d.Message, Since: utcOrNil(d.Since), Critical: d.Critical})
	}
	return v
}

func events(list []issuer.StatusEvent) []eventView {
	out := make([]eventView, 0, len(list))
	for _, e := range list {
		out = append(out, eventView{ID: e.ID, Kind: e.Kind, Dependency: e.Dependency, Title: e.Title, Body: e.Body,
			OpenedAt: e.OpenedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(), ClosedAt: utcPtr(e.ClosedAt), Until: utcPtr(e.Until)})
	}
	return out
}

func utcOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return utcOrNil(*t)
}

// statusFeed is an RSS 2.0 feed of incidents and notices: one item when an event opens (or a
// notice is posted) and another when it closes, so that readers see both.
func (s *Server) statusFeed(c echo.Context) error {
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	base := c.Scheme() + "://" + c.Request().Host
	feed := &feeds.Feed{
		Title:       "EU DCC issuer: service status",
		Link:        &feeds.Link{Href: base + "/status"},
		Description: "Incidents and planned maintenance of the EU Digital COVID Certificate issuer.",
	}
	all := slices.Concat(snap.Open, snap.Planned, snap.History)
	for _, e := range all {
		link := &feeds.Link{Href: base + "/status#event-" + e.ID}
		label := "Incident"
		if e.Kind == issuer.StatusNotice {
			label = "Notice"
		}
		posted := e.OpenedAt
		if e.UpdatedAt.Before(posted) {
			posted = e.UpdatedAt // a notice posted ahead of its window
		}
		feed.Add(&feeds.Item{
			Title:       label + ": " + e.Title,
			Link:        link,
			Description: feedText(e),
			Id:          "dcc-status:" + e.ID + ":opened",
			IsPermaLink: "false",
			Created:     posted.UTC(),
		})
		if e.ClosedAt != nil {
			feed.Add(&feeds.Item{
				Title:       "Resolved: " + e.Title,
				Link:        link,
				Description: "Closed " + localTime(*e.ClosedAt) + ". " + feedText(e),
				Id:          "dcc-status:" + e.ID + ":closed",
				IsPermaLink: "false",
				Created:     e.ClosedAt.UTC(),
			})
		}
	}
	slices.SortStableFunc(feed.Items, func(a, b *feeds.Item) int { return b.Created.Compare(a.Created) })
	if len(feed.Items) > 0 {
		feed.Updated = feed.Items[0].Created
	}
	var buf bytes.Buffer
	if err := feed.WriteRss(&buf); err != nil {
		return fmt.Errorf("write status feed: %w", err)
	}
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, "application/rss+xml; charset=utf-8", buf.Bytes())
}

func feedText(e issuer.StatusEvent) string {
	t := strings.TrimSpace(e.Body)
	if t != "" && !strings.ContainsAny(t[len(t)-1:], ".!?") {
		t += "."
	}
	if t != "" {
		t += " "
	}
	if e.Kind == issuer.StatusNotice {
		t += "From " + localTime(e.OpenedAt)
		if e.Until != nil {
			t += " until " + localTime(*e.Until)
		}
		return t + "."
	}
	return t + "Began " + localTime(e.OpenedAt) + "."
}

// localTime shows a time in Swedish time, e.g. "2026-03-01 09:00 CET".
func localTime(t time.Time) string {
	return t.In(policy.Default().Zone).Format("2006-01-02 15:04 MST")
}

// lightLabel is the light in words, so that the page never relies on colour alone.
func lightLabel(l status.Light) string {
	switch l {
	case status.Green:
		return "Operational"
	case status.Yellow:
		return "Degraded"
	case status.Red:
		return "Down"
	}
	return "Not checked yet"
}

// statusPageStyle is the page's only style sheet; the Content-Security-Policy allows exactly it.
const statusPageStyle = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:48rem;margin:0 auto;padding:1rem;line-height:1.5;color:#1b1b1b;background:#fff}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem}
.light{display:inline-block;width:.9em;height:.9em;border-radius:50%;margin-right:.4em;vertical-align:-.1em;border:1px solid #1b1b1b}
.green{background:#1e7b34}.yellow{background:#f2c200}.red{background:#c4161c}.unknown{background:#8a8a8a}
.service{font-size:1.2rem;padding:1rem;border:2px solid #1b1b1b;border-radius:.5rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.5rem;border-bottom:1px solid #ccc;vertical-align:top}
ul.events{list-style:none;padding:0}ul.events li{border-left:4px solid #8a8a8a;padding:.25rem .75rem;margin:.75rem 0}
ul.events li.incident{border-color:#c4161c}ul.events li.notice{border-color:#f2c200}
.meta{color:#4a4a4a;font-size:.9rem}
a{color:#0b57d0}
@media (prefers-color-scheme:dark){body{color:#eee;background:#121212}.service,.light{border-color:#eee}th,td{border-color:#444}.meta{color:#bbb}a{color:#8ab4f8}}
`

// statusPageCSP allows the page's style sheet and nothing else: no scripts, images or frames.
func statusPageCSP() string {
	h := sha256.Sum256([]byte(statusPageStyle))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(h[:]) +
		"'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// statusPageHTML is the page; html/template escapes every value put into it.
const statusPageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Service status: {{label .Service}}</title>
<link rel="alternate" type="application/rss+xml" title="Incidents and notices" href="/status/feed.xml">
<style>` + statusPageStyle + `</style>
</head>
<body>
<main>
<h1>EU DCC issuer: service status</h1>
<p class="service" role="status"><span class="light {{.Service}}" aria-hidden="true"></span><strong>{{label .Service}}.</strong> {{.Summary}}</p>
<p class="meta">{{if .CheckedAt.IsZero}}Not checked yet.{{else}}Checked <time datetime="{{.CheckedAt.UTC.Format "2006-01-02T15:04:05Z07:00"}}">{{when .CheckedAt}}</time>.{{end}}
{{if .EventsStale}}Incidents and notices could not be read just now; the lists below may be out of date.{{end}}
<a href="/status/feed.xml">Subscribe to incidents and notices (RSS)</a> · <a href="/status?format=json">JSON</a></p>

<h2>Dependencies</h2>
<table>
<thead><tr><th scope="col">Dependency</th><th scope="col">State</th><th scope="col">Details</th></tr></thead>
<tbody>
{{range .Dependencies}}<tr>
<th scope="row">{{.Title}}</th>
<td><span class="light {{.Light}}" aria-hidden="true"></span>{{label .Light}}</td>
<td>{{.Message}}{{if not .Since.IsZero}} <span class="meta">Since <time datetime="{{.Since.UTC.Format "2006-01-02T15:04:05Z07:00"}}">{{when .Since}}</time>.</span>{{end}}</td>
</tr>
{{end}}</tbody>
</table>

<h2>Open incidents and notices</h2>
{{if .Open}}<ul class="events">{{range .Open}}{{template "event" .}}{{end}}</ul>{{else}}<p>None.</p>{{end}}

<h2>Planned maintenance</h2>
{{if .Planned}}<ul class="events">{{range .Planned}}{{template "event" .}}{{end}}</ul>{{else}}<p>None announced.</p>{{end}}

<h2>Recent history</h2>
{{if .History}}<ul class="events">{{range .History}}{{template "event" .}}{{end}}</ul>{{else}}<p>No incidents or notices in the last 30 days.</p>{{end}}
</main>
</body>
</html>
{{define "event"}}<li class="{{.Kind}}" id="event-{{.ID}}">
<strong>{{if eq .Kind "notice"}}Notice{{else}}Incident{{end}}: {{.Title}}</strong>
{{if .Body}}<p>{{.Body}}</p>{{end}}
<p class="meta">{{if eq .Kind "notice"}}From{{else}}Began{{end}} <time datetime="{{.OpenedAt.UTC.Format "2006-01-02T15:04:05Z07:00"}}">{{when .OpenedAt}}</time>{{with .Until}}, until <time datetime="{{.UTC.Format "2006-01-02T15:04:05Z07:00"}}">{{when .}}</time>{{end}}{{with .ClosedAt}}; closed <time datetime="{{.UTC.Format "2006-01-02T15:04:05Z07:00"}}">{{when .}}</time>{{end}}.</p>
</li>{{end}}`
