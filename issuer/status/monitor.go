// Package status watches the service's dependencies and keeps the record of incidents and
// notices that /status and the status feed show.
//
// A Monitor runs one probe per dependency every interval and turns the answers into traffic
// lights: one per dependency and one for the service. When a dependency has been red for longer
// than a threshold the monitor opens an incident in the store, and it closes the incident when
// the dependency is no longer red. Notices (planned maintenance windows) are posted by operators
// with dccctl; the monitor reads them from the store.
//
// The store is itself a dependency. While it is down, the monitor keeps the incidents it could
// not write in memory (they are shown on /status all the same) and writes them, opened and
// closed with their real times, once the store answers again.
package status

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sedcc/dcc/issuer"
)

// Light is a traffic light.
type Light string

const (
	// Unknown: not checked yet.
	Unknown Light = "unknown"
	Green   Light = "green"
	Yellow  Light = "yellow"
	Red     Light = "red"
)

// Probe checks one dependency. It returns the light and a short sentence for the public,
// free of personal data and internal detail. It must return when ctx ends.
type Probe func(ctx context.Context) (Light, string)

// Dependency is one thing the service needs.
type Dependency struct {
	Name  string // e.g. DependencyStore; stored with its incidents
	Title string // shown to people, e.g. "Certificate store"
	Probe Probe
	// Critical: the service cannot issue while this dependency is red, so the service is red.
	// A red non-critical dependency makes the service yellow.
	Critical bool
}

// Events is the part of issuer.Store the monitor uses.
type Events interface {
	OpenIncident(ctx context.Context, e issuer.StatusEvent) error
	OpenIncidentFor(ctx context.Context, dependency string) (issuer.StatusEvent, error)
	CloseStatusEvent(ctx context.Context, id string, at time.Time) error
	StatusEvents(ctx context.Context, since time.Time, limit int) ([]issuer.StatusEvent, error)
}

// Defaults of Options.
const (
	DefaultInterval     = 10 * time.Second
	DefaultThreshold    = 60 * time.Second
	DefaultProbeTimeout = 5 * time.Second
	DefaultHistory      = 30 * 24 * time.Hour
	// maxEvents is how many events the monitor reads from the store.
	maxEvents = 200
)

// Options are a Monitor's dependencies and settings.
type Options struct {
	Events       Events
	Dependencies []Dependency
	// Interval between two checks (DefaultInterval when 0).
	Interval time.Duration
	// Threshold: how long a dependency must be red before an incident is opened
	// (DefaultThreshold when 0).
	Threshold time.Duration
	// ProbeTimeout bounds each probe (DefaultProbeTimeout when 0; never more than Interval).
	ProbeTimeout time.Duration
	// History: how far back closed incidents and ended notices are shown (DefaultHistory when 0).
	History time.Duration
	Clock   func() time.Time
	// Tick starts a ticker of the given period and returns its channel and a stop function
	// (a time.Ticker when nil).
	Tick func(d time.Duration) (<-chan time.Time, func())
	// NewID returns a unique id for an incident.
	NewID func() string
	Log   *slog.Logger
}

// Monitor checks dependencies periodically and keeps the incidents. It is safe for concurrent
// use: Snapshot may be called while Run checks.
type Monitor struct {
	events       Events
	interval     time.Duration
	threshold    time.Duration
	probeTimeout time.Duration
	history      time.Duration
	now          func() time.Time
	tick         func(time.Duration) (<-chan time.Time, func())
	newID        func() string
	log          *slog.Logger

	checkMu sync.Mutex // one Check at a time; the checking goroutine alone writes the fields below

	mu         sync.Mutex // guards the fields below against Snapshot
	deps       []*depState
	checkedAt  time.Time
	stored     []issuer.StatusEvent // the last events read from the store
	readAt     time.Time            // when they were read; zero before the first read
	readFailed bool                 // the last read failed
	pending    []*tracked           // incidents with a write still to do
	writeFail  bool                 // the last write failed (to log once per outage)
}

type depState struct {
	dep      Dependency
	light    Light
	message  string
	since    time.Time // when light last changed
	redSince time.Time // zero unless red
	incident *tracked  // the open incident, stored or not
}

// tracked is an incident the monitor opened or adopted.
type tracked struct {
	event  issuer.StatusEvent
	opened bool // the store holds it
}

// New checks o and builds a monitor; call Run to start it.
func New(o Options) (*Monitor, error) {
	if o.Events == nil {
		return nil, errors.New("status monitor: no event store")
	}
	if o.NewID == nil {
		return nil, errors.New("status monitor: no id generator")
	}
	m := &Monitor{events: o.Events, interval: o.Interval, threshold: o.Threshold, probeTimeout: o.ProbeTimeout,
		history: o.History, now: o.Clock, tick: o.Tick, newID: o.NewID, log: o.Log}
	if m.interval <= 0 {
		m.interval = DefaultInterval
	}
	if m.threshold <= 0 {
		m.threshold = DefaultThreshold
	}
	if m.probeTimeout <= 0 {
		m.probeTimeout = DefaultProbeTimeout
	}
	m.probeTimeout = min(m.probeTimeout, m.interval)
	if m.history <= 0 {
		m.history = DefaultHistory
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.tick == nil {
		m.tick = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	seen := map[string]bool{}
	for _, d := range o.Dependencies {
		switch {
		case d.Name == "":
			return nil, errors.New("status monitor: a dependency has no name")
		case seen[d.Name]:
			return nil, fmt.Errorf("status monitor: dependency %q given twice", d.Name)
		case d.Probe == nil:
			return nil, fmt.Errorf("status monitor: dependency %q has no probe", d.Name)
		}
		seen[d.Name] = true
		if d.Title == "" {
			d.Title = d.Name
		}
		m.deps = append(m.deps, &depState{dep: d, light: Unknown})
	}
	return m, nil
}

// Interval is the time between two checks.
func (m *Monitor) Interval() time.Duration { return m.interval }

// Run checks at once and then every interval until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	c, stop := m.tick(m.interval)
	defer stop()
	m.Check(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c:
			m.Check(ctx)
		}
	}
}

// Check runs every probe once, opens and closes incidents, writes what it can to the store and
// reads the events back.
func (m *Monitor) Check(ctx context.Context) {
	m.checkMu.Lock()
	defer m.checkMu.Unlock()

	type answer struct {
		light   Light
		message string
	}
	answers := make([]answer, len(m.deps))
	var wg sync.WaitGroup
	for i, d := range m.deps {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, m.probeTimeout)
			defer cancel()
			light, message := d.dep.Probe(pctx)
			switch light {
			case Green, Yellow, Red:
			default:
				light, message = Red, "The check gave no usable answer."
			}
			answers[i] = answer{light, message}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // shutting down: the answers say nothing about the dependencies
	}
	now := m.now()

	m.read(ctx, now)

	m.mu.Lock()
	m.checkedAt = now
	for i, d := range m.deps {
		m.apply(d, answers[i].light, answers[i].message, now)
	}
	m.mu.Unlock()

	if m.flush(ctx) {
		m.read(ctx, now)
	}
}

// apply records a dependency's new answer and opens or closes its incident. Callers hold mu.
func (m *Monitor) apply(d *depState, light Light, message string, now time.Time) {
	if light != d.light {
		m.log.Info("dependency state changed", "dependency", d.dep.Name, "from", string(d.light), "to", string(light), "message", message)
		d.since = now
	}
	d.light, d.message = light, message
	if light != Red {
		d.redSince = time.Time{}
		if d.incident != nil {
			closed := now
			d.incident.event.ClosedAt, d.incident.event.UpdatedAt = &closed, now
			m.log.Info("incident closed", "incident", d.incident.event.ID, "dependency", d.dep.Name)
			m.addPending(d.incident)
			d.incident = nil
		}
		return
	}
	if d.redSince.IsZero() {
		d.redSince = now
	}
	if d.incident != nil || now.Sub(d.redSince) < m.threshold {
		return
	}
	d.incident = &tracked{event: issuer.StatusEvent{
		ID:         m.newID(),
		Kind:       issuer.StatusIncident,
		Dependency: d.dep.Name,
		Title:      d.dep.Title + " unavailable",
		Body:       message,
		OpenedAt:   d.redSince,
		UpdatedAt:  d.redSince,
	}}
	m.log.Warn("incident opened", "incident", d.incident.event.ID, "dependency", d.dep.Name,
		"red_since", d.redSince, "message", message)
	m.addPending(d.incident)
}

func (m *Monitor) addPending(t *tracked) {
	if !slices.Contains(m.pending, t) {
		m.pending = append(m.pending, t)
	}
}

// flush writes the pending incidents, in the order they arose, and stops at the first failure
// (the store is most likely down; the rest waits for the next check). It reports whether
// anything was written.
func (m *Monitor) flush(ctx context.Context) bool {
	m.mu.Lock()
	work := slices.Clone(m.pending)
	m.mu.Unlock()
	wrote := false
	for _, t := range work {
		if !t.opened {
			open := t.event
			open.ClosedAt, open.UpdatedAt = nil, open.OpenedAt
			err := m.events.OpenIncident(ctx, open)
			if errors.Is(err, issuer.ErrIncidentOpen) {
				// Another instance opened one for this dependency: carry on with that one.
				var existing issuer.StatusEvent
				existing, err = m.events.OpenIncidentFor(ctx, open.Dependency)
				if err == nil {
					m.mu.Lock()
					t.event.ID, t.event.OpenedAt, t.event.Title, t.event.Body = existing.ID, existing.OpenedAt, existing.Title, existing.Body
					m.mu.Unlock()
				}
			}
			if err != nil {
				m.writeFailed(ctx, "open incident", t.event, err)
				return wrote
			}
			m.mu.Lock()
			t.opened = true
			m.mu.Unlock()
			wrote = true
		}
		if t.event.ClosedAt != nil {
			if err := m.events.CloseStatusEvent(ctx, t.event.ID, *t.event.ClosedAt); err != nil {
				m.writeFailed(ctx, "close incident", t.event, err)
				return wrote
			}
			wrote = true
		}
		m.mu.Lock()
		m.pending = slices.DeleteFunc(m.pending, func(p *tracked) bool { return p == t })
		m.writeFail = false
		m.mu.Unlock()
	}
	return wrote
}

// writeFailed logs a failed write once per run of failures.
func (m *Monitor) writeFailed(ctx context.Context, what string, e issuer.StatusEvent, err error) {
	m.mu.Lock()
	first := !m.writeFail
	m.writeFail = true
	m.mu.Unlock()
	if first {
		m.log.WarnContext(ctx, "status: cannot write to the store; kept in memory and retried", "op", what,
			"incident", e.ID, "dependency", e.Dependency, "err", err)
	}
}

// read reloads the events from the store and adopts open incidents of watched dependencies that
// the monitor does not hold (left open by an earlier process or opened by another instance), so
// that they are closed when the dependency recovers.
func (m *Monitor) read(ctx context.Context, now time.Time) {
	list, err := m.events.StatusEvents(ctx, now.Add(-m.history), maxEvents)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		if !m.readFailed {
			m.log.WarnContext(ctx, "status: cannot read incidents and notices; showing the last ones read", "err", err)
		}
		m.readFailed = true
		return
	}
	m.stored, m.readAt, m.readFailed = list, now, false
	for _, e := range list {
		if e.Kind != issuer.StatusIncident {
			continue
		}
		if e.ClosedAt != nil {
			m.closedElsewhere(e, now)
			continue
		}
		for _, d := range m.deps {
			if d.dep.Name != e.Dependency || d.incident != nil || m.holds(e.ID) {
				continue
			}
			d.incident = &tracked{event: e, opened: true}
			if d.light == Red && d.redSince.After(e.OpenedAt) {
				d.redSince = e.OpenedAt
			}
		}
	}
}

// closedElsewhere lets go of a held incident that was closed in the store by someone else (an
// operator with dccctl, or another instance). If the dependency is still red, a new incident
// opens once it has been red for another threshold. Callers hold mu.
func (m *Monitor) closedElsewhere(e issuer.StatusEvent, now time.Time) {
	for _, d := range m.deps {
		if d.incident == nil || d.incident.event.ID != e.ID || !d.incident.opened || m.holds(e.ID) {
			continue
		}
		m.log.Info("incident closed in the store", "incident", e.ID, "dependency", d.dep.Name)
		d.incident = nil
		if d.light == Red {
			d.redSince = now
		}
	}
}

// holds says whether a pending incident has the id. Callers hold mu.
func (m *Monitor) holds(id string) bool {
	return slices.ContainsFunc(m.pending, func(t *tracked) bool { return t.event.ID == id })
}

// DependencyStatus is one dependency's light.
type DependencyStatus struct {
	Name     string
	Title    string
	Light    Light
	Message  string
	Since    time.Time // when the light last changed; zero before the first check
	Critical bool
}

// Snapshot is the state /status shows.
type Snapshot struct {
	Service Light
	// Summary is one sentence about the service.
	Summary      string
	CheckedAt    time.Time // zero before the first check
	Dependencies []DependencyStatus
	// Open: incidents still open and notices whose window is on, newest first.
	Open []issuer.StatusEvent
	// Planned: notices whose window has not begun, soonest first.
	Planned []issuer.StatusEvent
	// History: closed incidents and ended notices, newest first.
	History []issuer.StatusEvent
	// EventsAt is when the events were last read from the store; EventsStale is set when the
	// last attempt failed, so the lists may be out of date.
	EventsAt    time.Time
	EventsStale bool
}

// Snapshot returns the current state, with the events as of now.
func (m *Monitor) Snapshot() Snapshot {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Snapshot{CheckedAt: m.checkedAt, EventsAt: m.readAt, EventsStale: m.readFailed}
	for _, d := range m.deps {
		s.Dependencies = append(s.Dependencies, DependencyStatus{Name: d.dep.Name, Title: d.dep.Title,
			Light: d.light, Message: d.message, Since: d.since, Critical: d.dep.Critical})
	}
	for _, e := range m.eventsLocked() {
		switch {
		case e.ClosedAt != nil || e.Until != nil && !now.Before(*e.Until):
			s.History = append(s.History, e)
		case e.Kind == issuer.StatusNotice && now.Before(e.OpenedAt):
			s.Planned = append(s.Planned, e)
		default:
			s.Open = append(s.Open, e)
		}
	}
	slices.Reverse(s.Planned)
	s.Service, s.Summary = overall(s.Dependencies, s.Open)
	return s
}

// eventsLocked merges the stored events with the incidents the monitor holds (newer than what
// was read, or not written yet), newest first. Callers hold mu.
func (m *Monitor) eventsLocked() []issuer.StatusEvent {
	byID := map[string]issuer.StatusEvent{}
	for _, e := range m.stored {
		byID[e.ID] = e
	}
	for _, t := range m.pending {
		byID[t.event.ID] = t.event
	}
	for _, d := range m.deps {
		if d.incident != nil {
			byID[d.incident.event.ID] = d.incident.event
		}
	}
	out := make([]issuer.StatusEvent, 0, len(byID))
	for _, e := range byID {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b issuer.StatusEvent) int {
		if c := b.OpenedAt.Compare(a.OpenedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out
}

// overall is the service's light: unknown before the first check; red when a critical
// dependency is red; yellow when any dependency is yellow, a non-critical one is red, or a
// notice's window is on; green otherwise.
func overall(deps []DependencyStatus, open []issuer.StatusEvent) (Light, string) {
	light := Green
	var down, degraded []string
	for _, d := range deps {
		switch {
		case d.Light == Unknown:
			return Unknown, "The service has not been checked yet."
		case d.Light == Red && d.Critical:
			light = Red
			down = append(down, d.Title)
		case d.Light == Red, d.Light == Yellow:
			degraded = append(degraded, d.Title)
		}
	}
	maintenance := slices.ContainsFunc(open, func(e issuer.StatusEvent) bool { return e.Kind == issuer.StatusNotice })
	switch {
	case light == Red:
		return Red, "Certificates cannot be issued now: " + strings.Join(down, ", ") + " unavailable."
	case len(degraded) > 0:
		return Yellow, "Certificates are issued, with reduced function: " + strings.Join(degraded, ", ") + " affected."
	case maintenance:
		return Yellow, "Certificates are issued; a notice is in effect (see below)."
	}
	return Green, "All systems operational."
}
