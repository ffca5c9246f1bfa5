package rotation

import (
	"errors"
	"testing"
	"time"

	"github.com/sedcc/dcc/signing/hcert"
	"github.com/sedcc/dcc/signing/keys"
)

func signer(t *testing.T, name string, from time.Time, validity time.Duration) *hcert.Signer {
	t.Helper()
	k, err := keys.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := keys.SelfSigned(k, keys.Options{CommonName: name, Now: from, Validity: validity})
	if err != nil {
		t.Fatal(err)
	}
	s, err := hcert.NewSigner(k, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestScheduleSwitchesAndPublishes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	year := 365 * 24 * time.Hour
	a := signer(t, "A", t0, year)                       // valid 2026
	b := signer(t, "B", t0.Add(300*24*time.Hour), year) // issued in late October, signs from 1 November
	switchB := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	now := switchB.Add(-24 * time.Hour)
	clock := func() time.Time { return now }
	// A is kept only by its DSC once B signs (its key may be retired).
	s, err := New(clock, Stage{From: switchB, DSC: b.Certificate(), Signer: b}, Stage{DSC: a.Certificate(), Signer: a})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at   time.Time
		want *hcert.Signer
	}{
		{t0, a},
		{switchB.Add(-time.Second), a},
		{switchB, b},
		{switchB.Add(100 * 24 * time.Hour), b},
	}
	for _, tt := range tests {
		got, err := s.At(tt.at)
		if err != nil || got != tt.want {
			t.Errorf("At(%s) = %v, %v; want %s", tt.at, got.Certificate().Subject.CommonName, err, tt.want.Certificate().Subject.CommonName)
		}
	}
	// Before the switch: A signs, B is staged, both are published.
	if s.Current().DSC != a.Certificate() || string(s.KID()) != string(a.KID()) {
		t.Error("before the switch the current key is not A")
	}
	if next, ok := s.Next(); !ok || next.DSC != b.Certificate() {
		t.Error("B is not staged")
	}
	if got := s.Published(now); len(got) != 2 {
		t.Errorf("published before the switch: %d DSCs, want 2", len(got))
	}
	// After the switch, A stays published until it expires, then only B.
	now = switchB.Add(time.Hour)
	if _, ok := s.Next(); ok || s.Current().DSC != b.Certificate() {
		t.Error("after the switch B is not the current key")
	}
	if got := s.Published(now); len(got) != 2 {
		t.Errorf("published after the switch: %d DSCs, want 2", len(got))
	}
	if got := s.Published(a.Certificate().NotAfter); len(got) != 1 || got[0] != b.Certificate() {
		t.Errorf("published after A expired: %v", got)
	}
}

func TestScheduleRefusesAndRetired(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := signer(t, "A", t0, 24*time.Hour)
	b := signer(t, "B", t0, 24*time.Hour)
	if _, err := New(nil, Stage{DSC: a.Certificate(), Signer: a}, Stage{DSC: b.Certificate(), Signer: b}); err == nil {
		t.Error("two keys starting together were accepted")
	}
	if _, err := New(nil, Stage{DSC: a.Certificate(), Signer: b}); err == nil {
		t.Error("a signer under another key's DSC was accepted")
	}
	if _, err := New(nil); err == nil {
		t.Error("an empty schedule was accepted")
	}
	s, err := New(func() time.Time { return t0 }, Stage{DSC: a.Certificate()}, Stage{From: t0.Add(time.Hour), DSC: b.Certificate(), Signer: b})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.At(t0); !errors.Is(err, ErrRetired) {
		t.Errorf("At a time of the retired key: %v", err)
	}
	if _, err := s.SignCWT([]byte{0xa0}); !errors.Is(err, ErrRetired) {
		t.Errorf("SignCWT with the retired key current: %v", err)
	}
}
