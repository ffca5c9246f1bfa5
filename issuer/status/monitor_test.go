package status_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer"
	"github.com/sedcc/dcc/issuer/status"
	"github.com/sedcc/dcc/issuer/store/embedded"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// switchProbe answers with whatever light the test sets.
type switchProbe struct {
	mu    sync.Mutex
	light status.Light
}

func (p *switchProbe) Set(l status.Light) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.light = l
}

func (p *switchProbe) Probe(context.Context) (status.Light, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.light, "the dependency is " + string(p.light)
}

// outageStore is the embedded store with a switch that makes it unreachable, as a PostgreSQL
// server that went away would be.
type outageStore struct {
	issuer.Store
	down     atomic.Bool
	readDown atomic.Bool // StatusEvents alone fails
}

var errDown = fmt.Errorf("%w: connection refused", issuer.ErrStoreUnavailable)

func (s *outageStore) Ping(ctx context.Context) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.Ping(ctx)
}

func (s *outageStore) OpenIncident(ctx context.Context, e issuer.StatusEvent) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.OpenIncident(ctx, e)
}

func (s *outageStore) OpenIncidentFor(ctx context.Context, dep string) (issuer.StatusEvent, error) {
	if s.down.Load() {
		return issuer.StatusEvent{}, errDown
	}
	return s.Store.OpenIncidentFor(ctx, dep)
}

func (s *outageStore) CloseStatusEvent(ctx context.Context, id string, at time.Time) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.CloseStatusEvent(ctx, id, at)
}

func (s *outageStore) StatusEvents(ctx context.Context, since time.Time, limit int) ([]issuer.StatusEvent, error) {
	if s.down.Load() || s.readDown.Load() {
		return nil, errDown
	}
	return s.Store.StatusEvents(ctx, since, limit)
}

type fixture struct {
	store    *outageStore
	clock    *fakeClock
	signing  *switchProbe
	register *switchProbe
	monitor  *status.Monitor
}

func openStore(t *testing.T, dir string) *outageStore {
	t.Helper()
	st, err := embedded.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &outageStore{Store: st}
}

func ids() func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("inc-%d", n.Add(1)) }
}

// newFixture watches three dependencies: the store (its real ping through the outage switch),
// signing and the register (switches); all green at t0.
func newFixture(t *testing.T, st *outageStore) *fixture {
	t.Helper()
	f := &fixture{store: st, clock: &fakeClock{now: t0},
		signing: &switchProbe{light: status.Green}, register: &switchProbe{light: status.Green}}
	m, err := status.New(status.Options{
		Events: st,
		Dependencies: []status.Dependency{
			{Name: status.DependencyStore, Title: "Certificate store", Probe: status.StoreProbe(st), Critical: true},
			{Name: status.DependencySigning, Title: "Signing", Probe: f.signing.Probe, Critical: true},
			{Name: status.DependencyRegister, Title: "Population register", Probe: f.register.Probe},
		},
		Interval:  10 * time.Second,
		Threshold: 60 * time.Second,
		Clock:     f.clock.Now,
		NewID:     ids(),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.monitor = m
	return f
}

// checkAt sets the clock and runs one check.
func (f *fixture) checkAt(t *testing.T, at time.Time) status.Snapshot {
	t.Helper()
	f.clock.Set(at)
	f.monitor.Check(t.Context())
	return f.monitor.Snapshot()
}

func lights(s status.Snapshot) map[string]status.Light {
	out := map[string]status.Light{"service": s.Service}
	for _, d := range s.Dependencies {
		out[d.Name] = d.Light
	}
	return out
}

func stored(t *testing.T, st issuer.Store) []issuer.StatusEvent {
	t.Helper()
	list, err := st.StatusEvents(t.Context(), time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func wantLights(t *testing.T, s status.Snapshot, service, store, signing, register status.Light) {
	t.Helper()
	want := map[string]status.Light{"service": service, "store": store, "signing": signing, "register": register}
	got := lights(s)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s light %s, want %s (all: %v)", k, got[k], v, got)
		}
	}
}

func TestBeforeTheFirstCheck(t *testing.T) {
	f := newFixture(t, openStore(t, t.TempDir()))
	s := f.monitor.Snapshot()
	wantLights(t, s, status.Unknown, status.Unknown, status.Unknown, status.Unknown)
	if !s.CheckedAt.IsZero() {
		t.Errorf("checked at %s before any check", s.CheckedAt)
	}
}

// TestRegisterIncidentLifeCycle: the register red for less than the threshold opens nothing;
// past it an incident opens, dated from when the register went red; when the register recovers
// it closes. The service stays yellow throughout, as issuance goes on with the fallback.
func TestRegisterIncidentLifeCycle(t *testing.T) {
	f := newFixture(t, openStore(t, t.TempDir()))
	wantLights(t, f.checkAt(t, t0), status.Green, status.Green, status.Green, status.Green)

	f.register.Set(status.Red)
	redAt := t0.Add(10 * time.Second)
	s := f.checkAt(t, redAt)
	wantLights(t, s, status.Yellow, status.Green, status.Green, status.Red)
	for _, at := range []time.Duration{20, 40, 69} {
		s = f.checkAt(t, t0.Add(at*time.Second))
		if len(s.Open) != 0 || len(stored(t, f.store)) != 0 {
			t.Fatalf("incident opened %s after the register went red, before the threshold", t0.Add(at*time.Second).Sub(redAt))
		}
	}
	if d := s.Dependencies[2]; !d.Since.Equal(redAt) {
		t.Errorf("register red since %s, want %s", d.Since, redAt)
	}

	s = f.checkAt(t, redAt.Add(60*time.Second))
	wantLights(t, s, status.Yellow, status.Green, status.Green, status.Red)
	events := stored(t, f.store)
	if len(events) != 1 {
		t.Fatalf("store holds %d events after the threshold, want 1", len(events))
	}
	inc := events[0]
	if inc.Kind != issuer.StatusIncident || inc.Dependency != "register" || !inc.OpenedAt.Equal(redAt) || inc.ClosedAt != nil {
		t.Errorf("incident %+v: want an open register incident opened at %s", inc, redAt)
	}
	if inc.Title != "Population register unavailable" || inc.Body != "the dependency is red" {
		t.Errorf("incident title %q body %q", inc.Title, inc.Body)
	}
	if len(s.Open) != 1 || s.Open[0].ID != inc.ID {
		t.Errorf("snapshot open events %+v, want the incident", s.Open)
	}

	// Still red: no second incident.
	f.checkAt(t, redAt.Add(5*time.Minute))
	if n := len(stored(t, f.store)); n != 1 {
		t.Errorf("store holds %d events while the register stays red, want 1", n)
	}

	f.register.Set(status.Yellow)
	upAt := redAt.Add(6 * time.Minute)
	s = f.checkAt(t, upAt)
	wantLights(t, s, status.Yellow, status.Green, status.Green, status.Yellow)
	events = stored(t, f.store)
	if len(events) != 1 || events[0].ClosedAt == nil || !events[0].ClosedAt.Equal(upAt) {
		t.Fatalf("after recovery the store holds %+v, want the incident closed at %s", events, upAt)
	}
	if len(s.Open) != 0 || len(s.History) != 1 || s.History[0].ID != inc.ID {
		t.Errorf("snapshot open %v history %v, want the incident in the history", s.Open, s.History)
	}

	f.register.Set(status.Green)
	wantLights(t, f.checkAt(t, upAt.Add(10*time.Second)), status.Green, status.Green, status.Green, status.Green)
}

// TestCriticalDependencyMakesServiceRed: signing red is the service red; a flap shorter than
// the threshold leaves no incident.
func TestCriticalDependencyMakesServiceRed(t *testing.T) {
	f := newFixture(t, openStore(t, t.TempDir()))
	f.checkAt(t, t0)
	f.signing.Set(status.Red)
	wantLights(t, f.checkAt(t, t0.Add(10*time.Second)), status.Red, status.Green, status.Red, status.Green)
	f.signing.Set(status.Green)
	f.checkAt(t, t0.Add(20*time.Second))
	f.signing.Set(status.Red)
	f.checkAt(t, t0.Add(30*time.Second))
	s := f.checkAt(t, t0.Add(80*time.Second)) // red again for 50 s only
	if len(s.Open) != 0 || len(stored(t, f.store)) != 0 {
		t.Errorf("incident opened although signing was never red for 60 s in a row")
	}
	f.signing.Set(status.Yellow)
	wantLights(t, f.checkAt(t, t0.Add(90*time.Second)), status.Yellow, status.Green, status.Yellow, status.Green)
}

// TestStoreIncidentWrittenWhenStoreReturns: while the store is down its incident is shown from
// memory; when the store is back the incident is written, opened and closed at the real times.
func TestStoreIncidentWrittenWhenStoreReturns(t *testing.T) {
	f := newFixture(t, openStore(t, t.TempDir()))
	f.checkAt(t, t0)
	f.store.down.Store(true)
	downAt := t0.Add(10 * time.Second)
	wantLights(t, f.checkAt(t, downAt), status.Red, status.Red, status.Green, status.Green)
	s := f.checkAt(t, downAt.Add(2*time.Minute))
	if len(s.Open) != 1 || s.Open[0].Dependency != "store" || !s.Open[0].OpenedAt.Equal(downAt) {
		t.Fatalf("snapshot open events %+v, want the store incident from %s", s.Open, downAt)
	}
	if !s.EventsStale {
		t.Error("events not marked stale while the store is down")
	}
	f.checkAt(t, downAt.Add(3*time.Minute))

	f.store.down.Store(false)
	upAt := downAt.Add(4 * time.Minute)
	s = f.checkAt(t, upAt)
	wantLights(t, s, status.Green, status.Green, status.Green, status.Green)
	events := stored(t, f.store)
	if len(events) != 1 {
		t.Fatalf("store holds %d events after recovery, want 1", len(events))
	}
	e := events[0]
	if e.Dependency != "store" || !e.OpenedAt.Equal(downAt) || e.ClosedAt == nil || !e.ClosedAt.Equal(upAt) {
		t.Errorf("stored incident %+v: want the store incident from %s to %s", e, downAt, upAt)
	}
	if s.EventsStale || len(s.History) != 1 || s.History[0].ID != e.ID {
		t.Errorf("snapshot stale %v history %+v, want the written incident", s.EventsStale, s.History)
	}
}

// TestIncidentOpenedWhileStoreDownIsWrittenOpen: the register goes red while the store is down;
// the incident is written, still open, once the store is back.
func TestIncidentOpenedWhileStoreDownIsWrittenOpen(t *testing.T) {
	f := newFixture(t, openStore(t, t.TempDir()))
	f.checkAt(t, t0)
	f.store.down.Store(true)
	f.register.Set(status.Red)
	f.checkAt(t, t0.Add(10*time.Second))
	f.checkAt(t, t0.Add(90*time.Second))
	f.store.down.Store(false)
	s := f.checkAt(t, t0.Add(100*time.Second))
	var open []string
	for _, e := range stored(t, f.store) {
		if e.ClosedAt == nil {
			open = append(open, e.Dependency)
		}
	}
	if !slices.Contains(open, "register") {
		t.Errorf("open incidents in the store %v, want the register's", open)
	}
	wantLights(t, s, status.Yellow, status.Green, status.Green, status.Red)
}

// TestNotices: a notice whose window is on makes the service yellow; one ahead is planned; one
// past is history.
func TestNotices(t *testing.T) {
	f := newFixture(t, openStore(t, t.TempDir()))
	post := func(id string, from time.Time, until *time.Time) {
		t.Helper()
		err := f.store.PostNotice(t.Context(), issuer.StatusEvent{ID: id, Title: "Servicefönster " + id, Body: "Planned maintenance.",
			OpenedAt: from, Until: until})
		if err != nil {
			t.Fatal(err)
		}
	}
	end := t0.Add(2 * time.Hour)
	post("planned", t0.Add(time.Hour), &end)
	s := f.checkAt(t, t0)
	wantLights(t, s, status.Green, status.Green, status.Green, status.Green)
	if len(s.Planned) != 1 || s.Planned[0].ID != "planned" || len(s.Open) != 0 {
		t.Errorf("planned %v open %v, want the notice planned", s.Planned, s.Open)
	}

	s = f.checkAt(t, t0.Add(time.Hour))
	if s.Service != status.Yellow || len(s.Open) != 1 || len(s.Planned) != 0 {
		t.Errorf("during the window: service %s, open %v, planned %v; want yellow with the notice open", s.Service, s.Open, s.Planned)
	}

	// The window ends by itself, without anyone closing the notice.
	s = f.checkAt(t, end)
	if s.Service != status.Green || len(s.Open) != 0 || len(s.History) != 1 {
		t.Errorf("after the window: service %s, open %v, history %v; want green with the notice in the history", s.Service, s.Open, s.History)
	}

	// An open-ended notice lasts until it is closed.
	post("open-ended", t0.Add(3*time.Hour), nil)
	if s := f.checkAt(t, t0.Add(3*time.Hour)); s.Service != status.Yellow {
		t.Errorf("open-ended notice: service %s, want yellow", s.Service)
	}
	if err := f.store.CloseStatusEvent(t.Context(), "open-ended", t0.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if s := f.checkAt(t, t0.Add(4*time.Hour)); s.Service != status.Green || len(s.History) != 2 {
		t.Errorf("closed notice: service %s, history %v; want green with both notices in the history", s.Service, s.History)
	}
}

// TestAdoptsIncidentLeftOpen: a restarted monitor closes the incident an earlier process left
// open once the dependency is well.
func TestAdoptsIncidentLeftOpen(t *testing.T) {
	st := openStore(t, t.TempDir())
	left := issuer.StatusEvent{ID: "earlier", Dependency: "register", Title: "Population register unavailable", OpenedAt: t0.Add(-time.Hour)}
	if err := st.OpenIncident(t.Context(), left); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, st)
	s := f.checkAt(t, t0)
	events := stored(t, st)
	if len(events) != 1 || events[0].ClosedAt == nil || !events[0].ClosedAt.Equal(t0) {
		t.Fatalf("stored %+v, want the earlier incident closed at %s", events, t0)
	}
	if len(s.History) != 1 || s.History[0].ID != "earlier" {
		t.Errorf("history %v, want the earlier incident", s.History)
	}
}

// TestTwoMonitorsOneIncident: two instances on one store record one incident between them.
func TestTwoMonitorsOneIncident(t *testing.T) {
	dir := t.TempDir()
	a, b := newFixture(t, openStore(t, dir)), newFixture(t, openStore(t, dir))
	for _, f := range []*fixture{a, b} {
		f.register.Set(status.Red)
		f.checkAt(t, t0)
	}
	for _, f := range []*fixture{a, b} {
		f.checkAt(t, t0.Add(time.Minute))
	}
	if events := stored(t, a.store); len(events) != 1 {
		t.Fatalf("two monitors stored %d incidents, want 1", len(events))
	}
	b.register.Set(status.Green)
	b.checkAt(t, t0.Add(2*time.Minute))
	if events := stored(t, a.store); len(events) != 1 || events[0].ClosedAt == nil {
		t.Errorf("after the register recovered for one monitor: %+v, want the incident closed", events)
	}
}

// TestJoinsIncidentAnotherInstanceOpened: when the store refuses a second open incident for the
// dependency, the monitor carries on with the one there, and closes it on recovery.
func TestJoinsIncidentAnotherInstanceOpened(t *testing.T) {
	st := openStore(t, t.TempDir())
	other := issuer.StatusEvent{ID: "other", Dependency: "register", Title: "Population register unavailable", OpenedAt: t0}
	if err := st.OpenIncident(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	st.readDown.Store(true) // the monitor cannot see it before it tries to open its own
	f := newFixture(t, st)
	f.register.Set(status.Red)
	f.checkAt(t, t0)
	s := f.checkAt(t, t0.Add(time.Minute))
	if len(s.Open) != 1 || s.Open[0].ID != "other" {
		t.Fatalf("open events %+v, want the other instance's incident", s.Open)
	}
	st.readDown.Store(false)
	f.register.Set(status.Green)
	f.checkAt(t, t0.Add(2*time.Minute))
	events := stored(t, st)
	if len(events) != 1 || events[0].ID != "other" || events[0].ClosedAt == nil {
		t.Errorf("stored %+v, want only the other instance's incident, closed", events)
	}
}

// TestIncidentClosedByHand: an operator closes an incident while the dependency is still red;
// the monitor lets it go and opens a new one only after another threshold.
func TestIncidentClosedByHand(t *testing.T) {
	f := newFixture(t, openStore(t, t.TempDir()))
	f.register.Set(status.Red)
	f.checkAt(t, t0)
	s := f.checkAt(t, t0.Add(time.Minute))
	if len(s.Open) != 1 {
		t.Fatalf("open %v, want the register incident", s.Open)
	}
	first := s.Open[0].ID
	closedAt := t0.Add(2 * time.Minute)
	if err := f.store.CloseStatusEvent(t.Context(), first, closedAt); err != nil {
		t.Fatal(err)
	}
	s = f.checkAt(t, closedAt.Add(10*time.Second))
	if len(s.Open) != 0 || len(s.History) != 1 || s.History[0].ID != first {
		t.Fatalf("after closing by hand: open %v history %v", s.Open, s.History)
	}
	s = f.checkAt(t, closedAt.Add(50*time.Second))
	if len(s.Open) != 0 {
		t.Errorf("new incident before another threshold: %v", s.Open)
	}
	s = f.checkAt(t, closedAt.Add(70*time.Second))
	if len(s.Open) != 1 || s.Open[0].ID == first {
		t.Errorf("open %v, want a new incident after another threshold of red", s.Open)
	}
	if n := len(stored(t, f.store)); n != 2 {
		t.Errorf("store holds %d incidents, want 2", n)
	}
}

// TestRunChecksOnEveryTick: Run checks at once, then on every tick, and returns when its
// context ends.
func TestRunChecksOnEveryTick(t *testing.T) {
	st := openStore(t, t.TempDir())
	ticks := make(chan time.Time)
	calls := make(chan struct{}, 10)
	var period time.Duration
	m, err := status.New(status.Options{
		Events: st,
		Dependencies: []status.Dependency{{Name: "register", Probe: func(context.Context) (status.Light, string) {
			calls <- struct{}{}
			return status.Green, "ok"
		}}},
		Interval: 7 * time.Second,
		Tick: func(d time.Duration) (<-chan time.Time, func()) {
			period = d
			return ticks, func() {}
		},
		Clock: (&fakeClock{now: t0}).Now,
		NewID: ids(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		m.Run(ctx)
		close(done)
	}()
	<-calls
	ticks <- t0
	<-calls
	ticks <- t0
	<-calls
	cancel()
	<-done
	if period != 7*time.Second {
		t.Errorf("ticker period %s, want the interval", period)
	}
	if s := m.Snapshot(); s.Service != status.Green {
		t.Errorf("service %s after checks, want green", s.Service)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	st := openStore(t, t.TempDir())
	probe := func(context.Context) (status.Light, string) { return status.Green, "" }
	for name, o := range map[string]status.Options{
		"no store":        {NewID: ids()},
		"no ids":          {Events: st},
		"unnamed":         {Events: st, NewID: ids(), Dependencies: []status.Dependency{{Probe: probe}}},
		"no probe":        {Events: st, NewID: ids(), Dependencies: []status.Dependency{{Name: "store"}}},
		"duplicate names": {Events: st, NewID: ids(), Dependencies: []status.Dependency{{Name: "a", Probe: probe}, {Name: "a", Probe: probe}}},
	} {
		if _, err := status.New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	m, err := status.New(status.Options{Events: st, NewID: ids()})
	if err != nil {
		t.Fatal(err)
	}
	if m.Interval() != status.DefaultInterval {
		t.Errorf("default interval %s", m.Interval())
	}
}

// TestProbeWithoutUsableAnswerIsRed: a probe that returns something other than a light counts
// as red.
func TestProbeWithoutUsableAnswerIsRed(t *testing.T) {
	st := openStore(t, t.TempDir())
	m, err := status.New(status.Options{Events: st, NewID: ids(), Clock: (&fakeClock{now: t0}).Now,
		Dependencies: []status.Dependency{{Name: "signing", Critical: true, Probe: func(context.Context) (status.Light, string) { return "", "" }}}})
	if err != nil {
		t.Fatal(err)
	}
	m.Check(t.Context())
	if s := m.Snapshot(); s.Service != status.Red || s.Dependencies[0].Light != status.Red {
		t.Errorf("lights %v, want red", lights(s))
	}
}
