package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/sedcc/dcc/issuer"
)

func incident(id, dependency string, opened time.Time) issuer.StatusEvent {
	return issuer.StatusEvent{ID: id, Kind: issuer.StatusIncident, Dependency: dependency,
		Title: "The " + dependency + " is unavailable", Body: "Requests that need it fail.",
		OpenedAt: opened, UpdatedAt: opened}
}

func notice(id string, opened time.Time, until *time.Time) issuer.StatusEvent {
	return issuer.StatusEvent{ID: id, Kind: issuer.StatusNotice, Title: "Planned maintenance <servicefönster>",
		Body: "Issuance pauses for a few minutes; retry with the same X-Request-ID.", OpenedAt: opened, UpdatedAt: opened, Until: until}
}

func statusEvents(t *testing.T, s issuer.Store, since time.Time, limit int) []issuer.StatusEvent {
	t.Helper()
	list, err := s.StatusEvents(ctx(t), since, limit)
	if err != nil {
		t.Fatalf("StatusEvents(%s, %d): %v", since, limit, err)
	}
	return list
}

func eventIDs(list []issuer.StatusEvent) []string {
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = e.ID
	}
	return out
}

func testStatusEvents(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	if list := statusEvents(t, s, time.Time{}, 0); len(list) != 0 {
		t.Errorf("empty store lists status events %v", eventIDs(list))
	}

	reg := incident("inc-1", "register", base())
	if err := s.OpenIncident(ctx(t), reg); err != nil {
		t.Fatalf("OpenIncident: %v", err)
	}
	// The method decides the kind; a zero UpdatedAt is the opening time.
	maint := notice("not-1", base().Add(2*time.Hour), ptr(base().Add(3*time.Hour)))
	posted := maint
	posted.Kind, posted.UpdatedAt = issuer.StatusIncident, time.Time{}
	if err := s.PostNotice(ctx(t), posted); err != nil {
		t.Fatalf("PostNotice: %v", err)
	}
	got, err := s.OpenIncidentFor(ctx(t), "register")
	if err != nil {
		t.Fatalf("OpenIncidentFor: %v", err)
	}
	equal(t, "OpenIncidentFor", got, reg)
	equal(t, "StatusEvents (newest first)", statusEvents(t, s, time.Time{}, 0), []issuer.StatusEvent{maint, reg})

	// One open incident per dependency.
	if err := s.OpenIncident(ctx(t), incident("inc-2", "register", base().Add(time.Minute))); !errors.Is(err, issuer.ErrIncidentOpen) {
		t.Errorf("second open incident for the register: error %v, want ErrIncidentOpen", err)
	}
	if err := s.OpenIncident(ctx(t), incident("inc-1", "store", base())); err == nil {
		t.Error("OpenIncident with a taken id succeeded")
	}
	if err := s.PostNotice(ctx(t), notice("inc-1", base(), nil)); err == nil {
		t.Error("PostNotice with a taken id succeeded")
	}
	equal(t, "events after refused writes", eventIDs(statusEvents(t, s, time.Time{}, 0)), []string{"not-1", "inc-1"})
	for _, dep := range []string{"store", ""} {
		if _, err := s.OpenIncidentFor(ctx(t), dep); !errors.Is(err, issuer.ErrNotFound) {
			t.Errorf("OpenIncidentFor(%q): error %v, want ErrNotFound", dep, err)
		}
	}
	signing := incident("inc-3", "signing", base().Add(time.Minute))
	if err := s.OpenIncident(ctx(t), signing); err != nil {
		t.Fatalf("OpenIncident for another dependency: %v", err)
	}

	// Closing keeps the first time; a closed incident frees its dependency.
	closedAt := base().Add(30 * time.Minute)
	if err := s.CloseStatusEvent(ctx(t), "inc-1", closedAt); err != nil {
		t.Fatalf("CloseStatusEvent: %v", err)
	}
	if err := s.CloseStatusEvent(ctx(t), "inc-1", closedAt.Add(time.Hour)); err != nil {
		t.Fatalf("CloseStatusEvent again: %v", err)
	}
	if err := s.CloseStatusEvent(ctx(t), "none", closedAt); !errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("CloseStatusEvent(unknown): error %v, want ErrNotFound", err)
	}
	if _, err := s.OpenIncidentFor(ctx(t), "register"); !errors.Is(err, issuer.ErrNotFound) {
		t.Errorf("OpenIncidentFor after closing: error %v, want ErrNotFound", err)
	}
	reg.ClosedAt, reg.UpdatedAt = ptr(closedAt), closedAt
	again := incident("inc-4", "register", base().Add(time.Hour))
	if err := s.OpenIncident(ctx(t), again); err != nil {
		t.Fatalf("OpenIncident after the previous one closed: %v", err)
	}
	equal(t, "all events", statusEvents(t, s, time.Time{}, 0), []issuer.StatusEvent{maint, again, signing, reg})

	// since leaves out what was closed, or whose window ended, before it.
	equal(t, "events at the closing time", eventIDs(statusEvents(t, s, closedAt, 0)), []string{"not-1", "inc-4", "inc-3", "inc-1"})
	equal(t, "events after the closing time", eventIDs(statusEvents(t, s, closedAt.Add(time.Microsecond), 0)), []string{"not-1", "inc-4", "inc-3"})
	equal(t, "events after the notice's window", eventIDs(statusEvents(t, s, base().Add(4*time.Hour), 0)), []string{"inc-4", "inc-3"})
	equal(t, "limit", eventIDs(statusEvents(t, s, time.Time{}, 2)), []string{"not-1", "inc-4"})

	// A notice closes like an incident.
	if err := s.CloseStatusEvent(ctx(t), "not-1", base().Add(time.Hour)); err != nil {
		t.Fatalf("CloseStatusEvent(notice): %v", err)
	}
	maint.ClosedAt, maint.UpdatedAt = ptr(base().Add(time.Hour)), base().Add(time.Hour)
	list := statusEvents(t, s, time.Time{}, 1)
	equal(t, "closed notice", list, []issuer.StatusEvent{maint})
}

func testStatusEventsPersist(t *testing.T, open func(t *testing.T) issuer.Store) {
	s := open(t)
	inc := incident("inc-1", "store", base())
	if err := s.OpenIncident(ctx(t), inc); err != nil {
		t.Fatalf("OpenIncident: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	unavailable := map[string]error{
		"OpenIncident":     s.OpenIncident(ctx(t), incident("inc-2", "register", base())),
		"PostNotice":       s.PostNotice(ctx(t), notice("not-1", base(), nil)),
		"CloseStatusEvent": s.CloseStatusEvent(ctx(t), "inc-1", base()),
		"StatusEvents": func() error {
			_, err := s.StatusEvents(ctx(t), time.Time{}, 0)
			return err
		}(),
		"OpenIncidentFor": func() error {
			_, err := s.OpenIncidentFor(ctx(t), "store")
			return err
		}(),
	}
	for what, err := range unavailable {
		if !errors.Is(err, issuer.ErrStoreUnavailable) {
			t.Errorf("%s on a closed store: error %v, want ErrStoreUnavailable", what, err)
		}
	}

	s = open(t)
	got, err := s.OpenIncidentFor(ctx(t), "store")
	if err != nil {
		t.Fatalf("open incident after reopening: %v", err)
	}
	equal(t, "incident after reopening", got, inc)
	if err := s.OpenIncident(ctx(t), incident("inc-2", "store", base())); !errors.Is(err, issuer.ErrIncidentOpen) {
		t.Errorf("second open incident after reopening: error %v, want ErrIncidentOpen", err)
	}
}
