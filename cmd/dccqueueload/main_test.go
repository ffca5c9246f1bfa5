package main

import (
	"io"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	o, err := parse(nil, io.Discard)
	if err != nil || o.visitors != 100000 || o.arrive != time.Minute || o.rate != 500 {
		t.Fatalf("defaults %+v %v", o, err)
	}
	for _, args := range [][]string{
		{"--visitors", "0"},
		{"--rate", "0"},
		{"--max", "30s"},
		{"--max", "11m"},
		{"--page-share", "2"},
		{"--provider-rate", "-1"},
	} {
		if _, err := parse(args, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// A visitor who asked after another had its answer must have the later number; visitors whose
// requests overlapped may be numbered either way.
func TestInversions(t *testing.T) {
	vs := []visitor{
		{sent: at(0), answered: at(10), number: 5},
		{sent: at(5), answered: at(12), number: 4},  // overlapped the first: not an inversion
		{sent: at(20), answered: at(25), number: 6}, // after both: in order
		{sent: at(30), answered: at(31), number: 3}, // after all three, yet smaller: inversion
		{sent: at(40), answered: at(41)},            // let in at once, no number: left out
	}
	if got := inversions(vs); got != 1 {
		t.Errorf("inversions %d, want 1", got)
	}
	if got := inversions(vs[:3]); got != 0 {
		t.Errorf("inversions of an ordered line %d, want 0", got)
	}
}

func TestBusiestSecond(t *testing.T) {
	ts := []time.Time{at(0), at(100), at(999), at(1000), at(1500), at(1600), at(1700), at(3000)}
	if got := busiestSecond(ts); got != 5 {
		t.Errorf("busiest second %v, want 5 (999 to 1998 ms)", got)
	}
	if busiestSecond(nil) != 0 {
		t.Error("busiest second of nothing")
	}
}

func TestAnalyse(t *testing.T) {
	vs := []visitor{
		{sent: at(0), answered: at(1), admitted: at(1), direct: true},
		{sent: at(10), answered: at(11), number: 2, admitAt: at(1011), estimate: time.Second, admitted: at(1500)},
		{sent: at(20), answered: at(21), number: 3, admitAt: at(3021), estimate: 3 * time.Second, admitted: at(3100)},
		{sent: at(30), answered: at(31), number: 4, admitAt: at(9031), estimate: 9 * time.Second, beforeTime: true, admitted: at(5000)},
		{sent: at(40), answered: at(41), number: 5, admitAt: at(20041), estimate: 20 * time.Second},
	}
	r := analyse(vs)
	if r.admitted != 4 || r.direct != 1 || r.ticketed != 3 || r.notAdmitted != 1 || r.beforeTime != 1 || r.inversions != 0 {
		t.Errorf("counts %+v", r)
	}
	if r.longestWait != 4969*time.Millisecond || r.longestWaitEstimate != 9*time.Second {
		t.Errorf("longest wait %s shown %s", r.longestWait, r.longestWaitEstimate)
	}
	if r.worstOvershoot != 489*time.Millisecond || r.longestEstimate != 20*time.Second {
		t.Errorf("worst overshoot %s, longest estimate %s", r.worstOvershoot, r.longestEstimate)
	}
	// From the first ticket (11 ms) to the last admission (5000 ms): 3 admissions.
	if want := 3 / (4989 * time.Millisecond).Seconds(); r.admittedRate != want {
		t.Errorf("admitted rate %v, want %v", r.admittedRate, want)
	}
}
