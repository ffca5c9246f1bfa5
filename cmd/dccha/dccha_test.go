package main

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

func TestOutage(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	acks := []time.Time{at(0), at(0.5), at(1), at(7.5), at(7.6), at(9), at(10.5), at(20), at(21)}
	for _, tc := range []struct {
		name          string
		killed, end   time.Time
		gap, firstAck time.Duration
	}{
		// The gap that spans the kill counts from the last acknowledgement before it.
		{"spanning", at(1.2), at(10), 6500 * time.Millisecond, 6300 * time.Millisecond},
		// A gap that begins inside the trial and ends after it still counts whole.
		{"closing after the end", at(10.6), at(12), 9500 * time.Millisecond, 9400 * time.Millisecond},
		// Nothing acknowledged after the kill: the outage runs to the end.
		{"none after", at(21.5), at(30), 9 * time.Second, 8500 * time.Millisecond},
	} {
		gap, first := outage(acks, tc.killed, tc.end)
		if gap != tc.gap || first != tc.firstAck {
			t.Errorf("%s: outage = %s, first %s; want %s, %s", tc.name, gap, first, tc.gap, tc.firstAck)
		}
	}
}

func TestClusterHealthy(t *testing.T) {
	m := func(name, role, state string) member {
		return member{Name: name, Role: role, State: state, Timeline: 2}
	}
	for _, tc := range []struct {
		members []member
		want    string // empty: healthy
	}{
		{[]member{m("a", "leader", "running"), m("b", "sync_standby", "running"), m("c", "replica", "streaming")}, ""},
		{[]member{m("a", "leader", "running"), m("b", "sync_standby", "running")}, "2 of 3 members"},
		{[]member{m("a", "leader", "stopped"), m("b", "sync_standby", "running"), m("c", "replica", "running")}, "0 running leaders"},
		{[]member{m("a", "leader", "running"), m("b", "replica", "running"), m("c", "replica", "running")}, "no running synchronous standby"},
		{[]member{m("a", "leader", "running"), m("b", "sync_standby", "running"), m("c", "replica", "starting")}, "2 of 3 members"},
		// While a primary restarts, Patroni may report it running on timeline 0.
		{[]member{{Name: "a", Role: "leader", State: "running"}, m("b", "sync_standby", "running"), m("c", "replica", "running")}, "0 running leaders"},
	} {
		err := clusterState{Members: tc.members}.healthy(3)
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("healthy(%v) = %v, want %q", tc.members, err, tc.want)
		}
	}
}

// The Patroni configuration carries the failover settings and strict synchronous replication.
func TestPatroniConfig(t *testing.T) {
	c := &cluster{scope: "dcc", pgBinDir: "/pg", settings: DefaultSettings, etcdPort: 2379,
		superPassword: "s", replPassword: "r", rewindPassword: "w"}
	n := &node{name: "pg1", pgPort: 5432, apiPort: 8008, dir: "/d/pg1"}
	b, err := json.Marshal(patroniConfig(c, n))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Bootstrap struct {
			DCS struct {
				TTL                   int  `json:"ttl"`
				LoopWait              int  `json:"loop_wait"`
				RetryTimeout          int  `json:"retry_timeout"`
				SynchronousMode       bool `json:"synchronous_mode"`
				SynchronousModeStrict bool `json:"synchronous_mode_strict"`
				PostgreSQL            struct {
					Parameters map[string]any `json:"parameters"`
				} `json:"postgresql"`
			} `json:"dcs"`
		} `json:"bootstrap"`
		PostgreSQL struct {
			Listen     string         `json:"listen"`
			DataDir    string         `json:"data_dir"`
			Parameters map[string]any `json:"parameters"`
		} `json:"postgresql"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	d := got.Bootstrap.DCS
	if d.TTL != 6 || d.LoopWait != 1 || d.RetryTimeout != 2 || !d.SynchronousMode || !d.SynchronousModeStrict {
		t.Errorf("dcs = %+v", d)
	}
	if d.PostgreSQL.Parameters["synchronous_commit"] != "on" {
		t.Errorf("synchronous_commit = %v", d.PostgreSQL.Parameters["synchronous_commit"])
	}
	if got.PostgreSQL.Parameters["wal_retrieve_retry_interval"] != "500ms" || got.PostgreSQL.Listen != "127.0.0.1:5432" || got.PostgreSQL.DataDir != "/d/pg1/data" {
		t.Errorf("postgresql = %+v", got.PostgreSQL)
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"test"}, ""},
		{[]string{"up", "--hold", "--load", "5s"}, ""},
		{[]string{"test", "--ttl", "4"}, "ttl >= loop_wait + 2 x retry_timeout"},
		{[]string{"bench", "--clients", "0"}, "--clients"},
		{[]string{"down"}, "help"},
		{nil, "help"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%q) = %v, want %q", tc.args, err, tc.want)
		}
	}
}
