package main

import (
	"strings"
	"testing"
)

func TestStatusPostListClose(t *testing.T) {
	vars := map[string]string{"DCC_DATA_DIR": t.TempDir()}
	// clock is 2026-03-01T12:00:00Z.
	r := runCLI(t, "", vars, "status", "post", "--title", "Servicefönster", "--body", "Issuance pauses for ten minutes.",
		"--from", "2026-03-01T22:00:00+01:00", "--until", "2026-03-01T22:10:00+01:00")
	if r.code != 0 {
		t.Fatalf("status post: %d %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "from 2026-03-01T21:00:00Z until 2026-03-01T21:10:00Z") {
		t.Errorf("status post printed %q", r.stdout)
	}
	fields := strings.Fields(r.stdout)
	if len(fields) < 2 || fields[0] != "notice" {
		t.Fatalf("status post printed %q", r.stdout)
	}
	id := fields[1]

	r = runCLI(t, "", vars, "status", "post", "--title", "Register answers slowly", "--dependency", "register")
	if r.code != 0 {
		t.Fatalf("status post (open-ended): %d %s", r.code, r.stderr)
	}

	r = runCLI(t, "", vars, "status", "list")
	if r.code != 0 {
		t.Fatalf("status list: %d %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("status list printed %d lines, want a header and two notices:\n%s", len(lines), r.stdout)
	}
	// Newest first by start: the evening window, then the one that started now.
	if !strings.HasPrefix(lines[1], id) || !strings.Contains(lines[1], "2026-03-01T21:10:00Z") || !strings.Contains(lines[1], "Servicefönster") {
		t.Errorf("first line %q, want the maintenance window", lines[1])
	}
	if !strings.Contains(lines[2], "register") || !strings.Contains(lines[2], "2026-03-01T12:00:00Z") {
		t.Errorf("second line %q, want the register notice starting now", lines[2])
	}

	r = runCLI(t, "", vars, "status", "close", "--id", id)
	if r.code != 0 || !strings.Contains(r.stdout, id+" closed") {
		t.Fatalf("status close: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "", vars, "status", "list")
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "2026-03-01T12:00:00Z  Servicefönster") {
		t.Errorf("after closing, status list:\n%s", r.stdout)
	}
	// Closed before --since: left out.
	r = runCLI(t, "", vars, "status", "list", "--since", "2026-03-01T13:00:00Z")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || strings.Contains(r.stdout, id) {
		t.Errorf("status list --since after the closing:\n%s", r.stdout)
	}

	r = runCLI(t, "", vars, "status", "close", "--id", "no-such-event")
	if r.code != exitFailure || !strings.Contains(r.stderr, "no notice or incident no-such-event") {
		t.Errorf("close of an unknown id: %d %s", r.code, r.stderr)
	}
}

func TestStatusUsageErrors(t *testing.T) {
	vars := map[string]string{"DCC_DATA_DIR": t.TempDir()}
	for name, args := range map[string][]string{
		"no subcommand":       {"status"},
		"unknown subcommand":  {"status", "open"},
		"no title":            {"status", "post", "--body", "x"},
		"bad time":            {"status", "post", "--title", "x", "--until", "tomorrow"},
		"until before from":   {"status", "post", "--title", "x", "--from", "2026-03-02T10:00:00Z", "--until", "2026-03-02T09:00:00Z"},
		"until passed":        {"status", "post", "--title", "x", "--until", "2026-03-01T11:00:00Z"},
		"unknown dependency":  {"status", "post", "--title", "x", "--dependency", "database"},
		"close without an id": {"status", "close"},
		"limit out of range":  {"status", "list", "--limit", "0"},
	} {
		if r := runCLI(t, "", vars, args...); r.code != exitUsage {
			t.Errorf("%s: exit %d, want %d (%s)", name, r.code, exitUsage, r.stderr)
		}
	}
	r := runCLI(t, "", vars, "status", "list")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != 0 || len(lines) != 1 {
		t.Errorf("nothing was to be posted by the refused commands; status list:\n%s", r.stdout)
	}
}
