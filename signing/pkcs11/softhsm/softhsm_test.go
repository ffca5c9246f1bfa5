package softhsm

import (
	"strings"
	"testing"
)

func TestConfigSetsTheTokenDirectoryOnly(t *testing.T) {
	got := string(Config("/srv/dcc/tokens"))
	if strings.Count(got, "\ndirectories.tokendir") != 1 || !strings.Contains(got, "\ndirectories.tokendir = /srv/dcc/tokens\n") {
		t.Fatalf("token directory not set once:\n%s", got)
	}
	// Every other line of the project's file is kept as it is.
	want := strings.Split(config, "\n")
	lines := strings.Split(got, "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d", len(lines), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(want[i], "directories.tokendir") && lines[i] != want[i] {
			t.Errorf("line %d: %q, want %q", i+1, lines[i], want[i])
		}
	}
	for _, setting := range []string{"objectstore.backend = file", "log.level = ERROR", "slots.removable = false"} {
		if !strings.Contains(got, "\n"+setting+"\n") {
			t.Errorf("missing %q", setting)
		}
	}
}
